"""Stand-in for koji.plugin: the decorators only mark functions, as Koji's do."""

callbacks = {}


def export(f):
    f.exported = True
    return f


def export_cli(f):
    f.exported_cli = True
    return f


def export_as(alias):
    def dec(f):
        f.exported = True
        f.export_alias = alias
        return f
    return dec


def export_in(module, alias=None):
    def dec(f):
        f.export_alias = '%s.%s' % (module, alias or f.__name__)
        f.exported = True
        f.export_module = module
        return f
    return dec


def callback(*cbtypes):
    def dec(f):
        f.callbacks = list(cbtypes)
        for cbtype in cbtypes:
            callbacks.setdefault(cbtype, []).append(f)
        return f
    return dec


def ignore_error(f):
    f.failure_is_an_option = True
    return f
