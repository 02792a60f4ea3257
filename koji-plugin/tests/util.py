"""Test helpers: the koji stand-in on sys.path, plugins loaded from their files."""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN_DIR = os.path.dirname(HERE)
REPO_ROOT = os.path.dirname(PLUGIN_DIR)
STUB = os.path.join(HERE, 'koji_stub')
if STUB not in sys.path:
    sys.path.insert(0, STUB)


def load_plugin(kind, alias=None):
    """Loads koji-plugin/<kind>/kiln.py as a fresh module named kiln_<kind> (or alias)."""
    name = alias or 'kiln_%s_plugin' % kind
    spec = importlib.util.spec_from_file_location(name, os.path.join(PLUGIN_DIR, kind, 'kiln.py'))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
