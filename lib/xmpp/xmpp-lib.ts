// @xmpp/client 0.14 is ESM only and ships no types; this package compiles to
// CommonJS, so it is loaded once with a dynamic import and described here by
// the few members we use.
import type { EventEmitter } from 'node:events';

export interface XElement {
  name: string;
  attrs: Record<string, string | undefined>;
  children: (XElement | string)[];
  is(name: string, xmlns?: string): boolean;
  getChild(name: string, xmlns?: string): XElement | undefined;
  getChildren(name: string, xmlns?: string): XElement[];
  getChildText(name: string, xmlns?: string): string | null;
  getChildElements(): XElement[];
  text(): string;
  append(...children: (XElement | string)[]): XElement;
  toString(): string;
}

export type XmlFactory = (name: string, attrs?: Record<string, string | number | undefined> | null, ...children: (XElement | string | undefined | (XElement | string)[])[]) => XElement;

export interface StreamManagement extends EventEmitter {
  enabled: boolean;
  id: string;
  /** Inbound stanzas handled: the 'h' of our acknowledgements. */
  inbound: number;
  outbound_q: { stanza: XElement }[];
  timeout: number;
  requestAckInterval: number;
  requestAckDebounce: number;
}

export interface XmppClient extends EventEmitter {
  status: string;
  jid: { toString(): string; bare(): { toString(): string } } | null;
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  send(el: XElement): Promise<void>;
  disconnect(): Promise<void>;
  iqCaller: { request(el: XElement, timeout?: number): Promise<XElement> };
  iqCallee: Record<'get' | 'set', (ns: string, name: string, handler: (ctx: { stanza: XElement }) => XElement | Record<string, never> | Promise<XElement>) => void>;
  reconnect: { stop(): void };
  streamManagement: StreamManagement;
}

export interface XmppModule {
  client(options: {
    service: string;
    domain: string;
    username: string;
    password?: string;
    /** Called to log in: the mechanism is ours to choose (e.g. none without TLS). */
    credentials?: (
      authenticate: (creds: { username: string; password: string }, mechanism: string) => Promise<void>,
      mechanisms: string[],
      fast: unknown,
      entity: { isSecure(): boolean },
    ) => Promise<void>;
    resource?: string;
    timeout?: number;
  }): XmppClient;
  xml: XmlFactory;
}

let mod: Promise<XmppModule> | undefined;
export function loadXmpp(): Promise<XmppModule> {
  // A variable specifier: TypeScript keeps the import() and does not look for typings.
  const spec: string = '@xmpp/client';
  mod ??= import(spec) as Promise<XmppModule>;
  return mod;
}
