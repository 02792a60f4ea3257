"""Kiln CLI plugin: `koji osbuild-image`, the same command (and the same hub call) as
koji-osbuild's, and `koji image-builder-build`, the same command (and hub call) as
koji-image-builder's, so scripts keep working.

Install as <python3 sitelib>/koji_cli_plugins/kiln.py (or in a directory named by
`plugin_paths` in the koji client config).
"""

import json
import optparse
import pprint

import koji
from koji.plugin import export_cli
from koji_cli.lib import _running_in_bg, activate_session, watch_tasks


def parse_args(argv):
    usage = ("usage: %prog osbuild-image [options] <name> <version> <distro> <target> <arch> [<arch> ...]\n\n"
             "Build OS images with Kiln (osbuild) for a Koji build target.")
    parser = optparse.OptionParser(usage=usage.replace('%prog', 'koji'))
    parser.add_option("--image-type", metavar="TYPE", action="append", dest="image_types",
                      help="Image type to build (default: guest-image); Koji names like qcow2, ec2 are mapped; "
                           "repeat it for several types in one build")
    parser.add_option("--release", help="Release of the build (default: the hub's next release)")
    parser.add_option("--repo", action="append",
                      help="Repository URL to build from instead of the build tag's repo; $arch is "
                           "replaced per architecture (repeatable)")
    parser.add_option("--repo-package-sets", dest="repo_package_sets", action="append", metavar="SETS",
                      help="Package sets (';'-separated) the preceding --repo serves")
    parser.add_option("--skip-tag", action="store_true", help="Do not tag the build into the destination tag")
    parser.add_option("--scratch", action="store_true", help="A scratch build: no Koji build, the images stay with the task")
    parser.add_option("--customizations", metavar="FILE", help="JSON file of image customizations")
    parser.add_option("--upload-options", metavar="FILE", dest="upload_options",
                      help="JSON file of upload options (cloud target)")
    parser.add_option("--ostree-parent", metavar="REF", help="OSTree parent commit or ref ($arch allowed)")
    parser.add_option("--ostree-ref", metavar="REF", help="OSTree ref of the new commit ($arch allowed)")
    parser.add_option("--ostree-url", metavar="URL", help="OSTree repository URL of the parent")
    parser.add_option("--wait", action="store_true", dest="wait", help="Wait for the task to finish")
    parser.add_option("--nowait", action="store_false", dest="wait", help="Do not wait for the task")
    parser.add_option("--quiet", action="store_true", help="Print only the task id lines")

    # --repo and --repo-package-sets interleave: a package set belongs to the last --repo before it
    order = []
    for i, a in enumerate(argv):
        if a == '--repo' or a.startswith('--repo='):
            order.append(('repo', i))
        elif a == '--repo-package-sets' or a.startswith('--repo-package-sets='):
            order.append(('sets', i))
    opts, args = parser.parse_args(argv)
    if len(args) < 5:
        parser.error("At least name, version, distro, target and one architecture are required")
    opts.name, opts.version, opts.distro, opts.target = args[:4]
    opts.arches = args[4:]
    types = opts.image_types or ['guest-image']
    # one type is a string, as koji-osbuild sends it; several a list (Kiln)
    opts.image_type = types[0] if len(types) == 1 else types
    opts.repo_entries = []
    repos = list(opts.repo or [])
    sets = list(opts.repo_package_sets or [])
    for kind, _ in order:
        if kind == 'repo':
            opts.repo_entries.append({'baseurl': repos.pop(0)})
        else:
            value = sets.pop(0)
            if not opts.repo_entries:
                parser.error("Need '--repo' for --repo-package-sets %r" % value)
            entry = opts.repo_entries[-1]
            names = set(entry.get('package_sets', [])) | set(s.strip() for s in value.split(';') if s.strip())
            entry['package_sets'] = sorted(names)
    return parser, opts


def load_json_file(parser, path, what):
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        parser.error('cannot read %s file %s: %s' % (what, path, e))


def build_opts(parser, args):
    opts = {}
    if args.release:
        opts['release'] = args.release
    if args.repo_entries:
        # plain URLs are strings (what koji-osbuild sends); once package sets appear, all are objects
        if any('package_sets' in e for e in args.repo_entries):
            opts['repo'] = args.repo_entries
        else:
            opts['repo'] = [e['baseurl'] for e in args.repo_entries]
    if args.skip_tag:
        opts['skip_tag'] = True
    if args.scratch:
        opts['scratch'] = True
    if args.customizations:
        opts['customizations'] = load_json_file(parser, args.customizations, '--customizations')
    if args.upload_options:
        opts['upload_options'] = load_json_file(parser, args.upload_options, '--upload-options')
    ostree = {}
    for key in ('parent', 'ref', 'url'):
        value = getattr(args, 'ostree_' + key)
        if value:
            ostree[key] = value
    if ostree:
        opts['ostree'] = ostree
    return opts


def check_target(session, name):
    target = session.getBuildTarget(name)
    if not target:
        raise koji.GenericError("Unknown build target: %s" % name)
    tag = session.getTag(target['dest_tag'])
    if not tag:
        raise koji.GenericError("Unknown destination tag: %s" % target['dest_tag_name'])
    return target


@export_cli
def handle_osbuild_image(options, session, argv):
    "[build] Build OS images with Kiln (osbuild)"
    parser, args = parse_args(argv)
    opts = build_opts(parser, args)

    # before logging in: a wrong target is the most common mistake, say so at once
    check_target(session, args.target)

    if not args.quiet:
        print("name:", args.name)
        print("version:", args.version)
        print("distribution:", args.distro)
        print("architectures:", ", ".join(args.arches))
        print("target:", args.target)
        print("image type:", args.image_type if isinstance(args.image_type, str) else ", ".join(args.image_type))
        pprint.pprint(opts)

    activate_session(session, options)
    task_id = session.osbuildImage(args.name, args.version, args.distro, args.image_type, args.target,
                                   args.arches, opts=opts)

    print("Created task: %s" % task_id)
    weburl = getattr(options, 'weburl', None)
    if weburl:
        print("Task info: %s/taskinfo?taskID=%s" % (weburl, task_id))

    if args.wait or (args.wait is None and not _running_in_bg()):
        session.logout()
        rv = watch_tasks(session, [task_id], quiet=getattr(options, 'quiet', False) or args.quiet,
                         poll_interval=getattr(options, 'poll_interval', None) or 5, topurl=getattr(options, 'topurl', None))
        if rv == 0:
            result = session.getTaskResult(task_id)
            print(result)
        return rv
    return 0


# --------------------------------------------------------------------------- image-builder-build

def load_blueprint(parser, path):
    """A blueprint file as image-builder takes it: JSON, or TOML (Python 3.11's tomllib)."""
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as e:
        parser.error('cannot read blueprint %s: %s' % (path, e.strerror))
    text = raw.decode('utf-8', 'replace').lstrip('\ufeff')
    if text.lstrip().startswith('{'):
        try:
            return json.loads(text)
        except ValueError as e:
            parser.error('blueprint %s is not valid JSON: %s' % (path, e))
    try:
        import tomllib
    except ImportError:
        parser.error('blueprint %s is not JSON, and this Python has no TOML parser (tomllib, Python 3.11)' % path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        parser.error('blueprint %s is neither JSON nor valid TOML: %s' % (path, e))


def parse_image_builder_args(argv):
    usage = ("usage: koji image-builder-build [options] <target> <name> <version> <type> [<type>...]\n"
             "(Specify the --help global option for a list of other help options)")
    parser = optparse.OptionParser(usage=usage)
    parser.add_option("--scratch", action="store_true", default=False, help="Perform a scratch build")
    parser.add_option("--arch", action="append", dest="arches", default=[], help="Only build provided architectures")
    parser.add_option("--failable-arch", action="append", dest="failable_arches", default=[],
                      help="Allow an arch to fail without failing the parent task")
    parser.add_option("--repo", action="append",
                      help="Specify a repo that will override the repo used to install RPMs in the image. May be used "
                           "multiple times. The build tag repo associated with the target is the default.")
    parser.add_option("--ostree-parent", type=str, dest="ostree_parent", help="The OSTree commit parent for OSTree commit image types")
    parser.add_option("--ostree-ref", type=str, dest="ostree_ref", help="The OSTree commit ref for OSTree commit image types")
    parser.add_option("--ostree-url", type=str, dest="ostree_url", help="URL to the OSTree repo for OSTree commit image types")
    parser.add_option("--bootc-ref", type=str, dest="bootc_ref", help="Ref to the bootable container for bootc image types")
    parser.add_option("--bootc-build-ref", type=str, dest="bootc_build_ref",
                      help="Ref to the bootable container build root container for bootc image types")
    parser.add_option("--bootc-installer-payload-ref", type=str, dest="bootc_installer_payload_ref",
                      help="Ref to the bootable container installer payload container for bootc image types")
    parser.add_option("--bootc-default-fs", type=str, dest="bootc_default_fs",
                      help="Set the default root filesystem to use when not defined in the container")
    parser.add_option("--release", help="Override release of the output, otherwise determined based on 'target' and 'name'")
    parser.add_option("--distro", help="Override distro of the output, otherwise determined based on the 'target' and its buildroot")
    parser.add_option("--blueprint", help="Provide a blueprint to customize the build: a JSON (or TOML) file")
    parser.add_option("--seed", type=int, help="Set a seed. Influences repeatability of generated UUIDs.")
    parser.add_option("--preview", dest="preview", action="store_true",
                      help="Set preview to true. Overrides distribution default prerelease status.")
    parser.add_option("--no-preview", dest="preview", action="store_false",
                      help="Set preview to false. Overrides distribution default prerelease status.")
    parser.set_defaults(preview=None)
    opts, args = parser.parse_args(argv)
    if len(args) < 4:
        parser.error("incorrect number of arguments")
    return parser, opts, args


def image_builder_task(parser, opts, args):
    """imageBuilderBuild's arguments: [target, arches, types, name, version] and the opts struct."""
    target, name, version = args[:3]
    types = args[3:]
    task_opts = {'scratch': opts.scratch}
    ostree = {k: getattr(opts, 'ostree_' + k) for k in ('parent', 'ref', 'url') if getattr(opts, 'ostree_' + k)}
    if ostree:
        task_opts['ostree'] = ostree
    bootc = {}
    for key, value in (('ref', opts.bootc_ref), ('build-ref', opts.bootc_build_ref),
                       ('installer-payload-ref', opts.bootc_installer_payload_ref), ('default-fs', opts.bootc_default_fs)):
        if value:
            bootc[key] = value
    if bootc:
        task_opts['bootc'] = bootc
    if opts.repo:
        task_opts['repos'] = opts.repo
    if opts.release:
        task_opts['release'] = opts.release
    if opts.distro:
        task_opts['distro'] = opts.distro
    if opts.seed is not None:
        task_opts['seed'] = opts.seed
    if opts.preview is not None:
        task_opts['preview'] = opts.preview
    if opts.blueprint:
        task_opts['blueprint'] = load_blueprint(parser, opts.blueprint)
    if opts.failable_arches:
        task_opts['failable_arches'] = opts.failable_arches
    return [target, opts.arches, types, name, version], task_opts


@export_cli
def handle_image_builder_build(options, session, argv):
    "[build] Build images through `image-builder`:"
    parser, opts, args = parse_image_builder_args(argv)
    task_args, task_opts = image_builder_task(parser, opts, args)
    activate_session(session, options)
    if not session.hasPerm("image") and not session.hasPerm("admin"):
        parser.error("this action requires image or admin privileges")
    task_id = session.imageBuilderBuild(*task_args, opts=task_opts)
    if not getattr(options, 'quiet', False):
        print("Created task: %s" % task_id)
        weburl = getattr(options, 'weburl', None)
        if weburl:
            print("Task info: %s/taskinfo?taskID=%s" % (weburl, task_id))
    return watch_tasks(session, [task_id], quiet=getattr(options, 'quiet', False),
                       poll_interval=getattr(options, 'poll_interval', None) or 5, topurl=getattr(options, 'topurl', None))
