// Words for why an MQTT broker would not have us, from the error mqtt.js emits (a CONNACK
// return code for MQTT 3.1.1, a reason code for MQTT 5, or a socket error code).
const CONNACK: Record<number, string> = {
  1: 'protocol version refused', 2: 'client id refused', 3: 'server unavailable',
  4: 'bad user name or password', 5: 'not authorised',
  132: 'protocol version refused', 133: 'client id refused', 134: 'bad user name or password',
  135: 'not authorised', 136: 'server unavailable', 137: 'server busy', 138: 'banned',
};
const SOCKET: Record<string, string> = {
  ECONNREFUSED: 'connection refused', ENOTFOUND: 'host not found', EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'no answer', EHOSTUNREACH: 'host unreachable', ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};

/** A short reason for the node status, e.g. "not authorised". */
export function brokerRefusal(err: { code?: unknown; message?: string }): string {
  if (typeof err.code === 'number' && CONNACK[err.code]) return CONNACK[err.code]!;
  if (typeof err.code === 'string' && SOCKET[err.code]) return SOCKET[err.code]!;
  return (err.message ?? 'error').replace(/^Connection refused: /, '').toLowerCase().slice(0, 60);
}

/** Whether retrying with the same settings will keep failing: the login or the client id is wrong. */
export function isLoginRefusal(err: { code?: unknown }): boolean {
  return typeof err.code === 'number' && [2, 4, 5, 133, 134, 135, 138].includes(err.code);
}
