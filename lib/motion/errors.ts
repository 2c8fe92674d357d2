// The one ConfigError of every node's settings (lib/common/settings.ts).
export { ConfigError } from '../common/settings';
