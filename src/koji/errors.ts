import { KilnError, type ErrorCode, type KilnErrorOptions } from '../errors.js';

/** Koji's fault codes (koji/__init__.py); a code not listed stays a plain KojiFault. */
export const KojiFaultCode = {
  GenericError: 1000,
  LockError: 1001,
  AuthError: 1002,
  TagError: 1003,
  ActionNotAllowed: 1004,
  BuildError: 1005,
  AuthLockError: 1006,
  AuthExpired: 1007,
  SequenceError: 1008,
  RetryError: 1009,
  PreBuildError: 1010,
  PostBuildError: 1011,
  BuildrootError: 1012,
  FunctionDeprecated: 1013,
  ServerOffline: 1014,
  LiveCDError: 1015,
  PluginError: 1016,
  CallbackError: 1017,
  ApplianceError: 1018,
  ParameterError: 1019,
  ImportError: 1020,
  ConfigurationError: 1021,
  LiveMediaError: 1022,
  GSSAPIAuthError: 1023,
  NameValidationError: 1024,
} as const;

export type KojiFaultName = keyof typeof KojiFaultCode;

const faultNames = new Map<number, KojiFaultName>(
  Object.entries(KojiFaultCode).map(([name, code]) => [code, name as KojiFaultName]),
);

/** A fault returned by the hub. `faultName` is Koji's exception class, or 'Fault' for unknown codes. */
export class KojiFault extends KilnError {
  readonly faultCode: number;
  readonly faultString: string;
  readonly faultName: KojiFaultName | 'Fault';
  readonly method?: string;

  constructor(faultCode: number, faultString: string, options: { method?: string; code?: ErrorCode } & KilnErrorOptions = {}) {
    const faultName = faultNames.get(faultCode) ?? 'Fault';
    super(options.code ?? 'KILN_KOJI_FAULT', `koji ${options.method ?? 'call'}: ${faultName} (${faultCode}): ${faultString}`, {
      cause: options.cause,
      details: { faultCode, faultName, faultString, ...(options.method ? { method: options.method } : {}), ...options.details },
    });
    this.faultCode = faultCode;
    this.faultString = faultString;
    this.faultName = faultName;
    if (options.method) this.method = options.method;
  }
}

type FaultOptions = { method?: string } & KilnErrorOptions;

export class KojiGenericError extends KojiFault {
  constructor(s: string, o: FaultOptions = {}) { super(KojiFaultCode.GenericError, s, o); }
}
export class KojiLockError extends KojiFault {
  constructor(s: string, o: FaultOptions = {}) { super(KojiFaultCode.LockError, s, o); }
}
export class KojiAuthError extends KojiFault {
  constructor(s: string, o: FaultOptions = {}) { super(KojiFaultCode.AuthError, s, { ...o, code: 'KILN_KOJI_AUTH' }); }
}
export class KojiTagError extends KojiFault {
  constructor(s: string, o: FaultOptions = {}) { super(KojiFaultCode.TagError, s, o); }
}
export class KojiActionNotAllowedError extends KojiFault {
  constructor(s: string, o: FaultOptions = {}) { super(KojiFaultCode.ActionNotAllowed, s, { ...o, code: 'KILN_KOJI_AUTH' }); }
}
export class KojiAuthExpiredError extends KojiFault {
  constructor(s: string, o: FaultOptions = {}) { super(KojiFaultCode.AuthExpired, s, { ...o, code: 'KILN_KOJI_AUTH' }); }
}
export class KojiSequenceError extends KojiFault {
  constructor(s: string, o: FaultOptions = {}) { super(KojiFaultCode.SequenceError, s, o); }
}
/** The hub already committed a call with this callnum: the earlier attempt succeeded but its reply was lost. */
export class KojiRetryError extends KojiFault {
  constructor(s: string, o: FaultOptions = {}) { super(KojiFaultCode.RetryError, s, o); }
}
export class KojiServerOfflineError extends KojiFault {
  constructor(s: string, o: FaultOptions = {}) { super(KojiFaultCode.ServerOffline, s, o); }
}
export class KojiParameterError extends KojiFault {
  constructor(s: string, o: FaultOptions = {}) { super(KojiFaultCode.ParameterError, s, o); }
}
export class KojiImportError extends KojiFault {
  constructor(s: string, o: FaultOptions = {}) { super(KojiFaultCode.ImportError, s, o); }
}

const faultClasses = new Map<number, new (s: string, o?: FaultOptions) => KojiFault>([
  [KojiFaultCode.GenericError, KojiGenericError],
  [KojiFaultCode.LockError, KojiLockError],
  [KojiFaultCode.AuthError, KojiAuthError],
  [KojiFaultCode.TagError, KojiTagError],
  [KojiFaultCode.ActionNotAllowed, KojiActionNotAllowedError],
  [KojiFaultCode.AuthExpired, KojiAuthExpiredError],
  [KojiFaultCode.SequenceError, KojiSequenceError],
  [KojiFaultCode.RetryError, KojiRetryError],
  [KojiFaultCode.ServerOffline, KojiServerOfflineError],
  [KojiFaultCode.ParameterError, KojiParameterError],
  [KojiFaultCode.ImportError, KojiImportError],
]);

/** The hub's fault as a typed error (the client side of Koji's convertFault). */
export function faultToError(faultCode: number, faultString: string, method?: string): KojiFault {
  const cls = faultClasses.get(faultCode);
  return cls ? new cls(faultString, { method }) : new KojiFault(faultCode, faultString, { method });
}

/** The hub could not be reached, or answered with something other than XML-RPC (HTTP status, reset, timeout). */
export class KojiTransportError extends KilnError {
  readonly status?: number;
  constructor(message: string, options: { status?: number; method?: string } & KilnErrorOptions = {}) {
    super('KILN_KOJI_TRANSPORT', message, {
      cause: options.cause,
      details: { ...(options.status ? { status: options.status } : {}), ...(options.method ? { method: options.method } : {}), ...options.details },
    });
    if (options.status) this.status = options.status;
  }
}

/** An upload that the hub stored differently from what was sent, or that could not be completed. */
export class KojiUploadError extends KilnError {
  constructor(message: string, options: KilnErrorOptions = {}) {
    super('KILN_KOJI_UPLOAD', message, options);
  }
}

/** Login failed or no usable credentials. */
export class KojiLoginError extends KilnError {
  constructor(message: string, options: KilnErrorOptions = {}) {
    super('KILN_KOJI_AUTH', message, options);
  }
}
