/** A motion setting is wrong; the message names the field and what is allowed. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
