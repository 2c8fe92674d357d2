// What `npm start` reads from the environment for the editor login and the broker login.
import type { FlowNode } from './node-red';

/** Hosts only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

/** MANTIS_ADMIN_USER (default admin) and MANTIS_ADMIN_PASSWORD_HASH (bcrypt), or none. */
export function editorLogin(env: NodeJS.ProcessEnv): { username: string; passwordHash: string } | undefined {
  const hash = env.MANTIS_ADMIN_PASSWORD_HASH?.trim();
  if (!hash) return undefined;
  // A plain password here would never log in, and would sit in the environment in clear.
  if (!BCRYPT.test(hash)) throw new Error('MANTIS_ADMIN_PASSWORD_HASH is not a bcrypt hash ($2b$…); make one with: npx node-red admin hash-pw');
  return { username: env.MANTIS_ADMIN_USER?.trim() || 'admin', passwordHash: hash };
}

/**
 * MANTIS_MQTT_USER / MANTIS_MQTT_PASSWORD: stored as the credentials of the flow's broker nodes that
 * use ${MANTIS_MQTT_HOST}, so the password lands in the encrypted credentials file, never in the flow.
 */
export function mqttLogin(env: NodeJS.ProcessEnv): { user: string; credentials: (flow: readonly FlowNode[]) => Record<string, Record<string, string>> } | undefined {
  const user = env.MANTIS_MQTT_USER?.trim();
  if (!user) {
    if (env.MANTIS_MQTT_PASSWORD) throw new Error('MANTIS_MQTT_PASSWORD is set but MANTIS_MQTT_USER is not');
    return undefined;
  }
  const password = env.MANTIS_MQTT_PASSWORD ?? '';
  // Node-RED code (function nodes' env.get) has no business with it once it is in the credentials.
  delete env.MANTIS_MQTT_PASSWORD;
  const creds: Record<string, string> = password ? { user, password } : { user };
  return {
    user,
    credentials: (flow) => {
      const brokers = flow.filter((n) => n.type === 'mqtt-broker' && n.broker === '${MANTIS_MQTT_HOST}');
      if (!brokers.length) console.warn('Mantis: MANTIS_MQTT_USER is set, but no mqtt-broker node of the flow uses ${MANTIS_MQTT_HOST}; the login was not stored');
      return Object.fromEntries(brokers.map((n) => [n.id, creds]));
    },
  };
}
