"""Kiln CLI plugin: `koji osbuild-image`, the same command (and the same hub call) as
koji-osbuild's, so scripts keep working.

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
    parser.add_option("--image-type", metavar="TYPE", default="guest-image",
                      help="Image type to build (default: guest-image); Koji names like qcow2, ec2 are mapped")
    parser.add_option("--release", help="Release of the build (default: the hub's next release)")
    parser.add_option("--repo", action="append",
                      help="Repository URL to build from instead of the build tag's repo; $arch is "
                           "replaced per architecture (repeatable)")
    parser.add_option("--repo-package-sets", dest="repo_package_sets", action="append", metavar="SETS",
                      help="Package sets (';'-separated) the preceding --repo serves")
    parser.add_option("--skip-tag", action="store_true", help="Do not tag the build into the destination tag")
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
        print("image type:", args.image_type)
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
