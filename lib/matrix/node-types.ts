// Types shared by the Matrix nodes (a node module may only `export =` its registration).
import type { Node } from 'node-red';
import type { MatrixBot } from './bot';
import type { CommandMessage } from './types';

export interface AccountCreds { password?: string; accessToken?: string }

export interface AccountStatus { fill: 'green' | 'yellow' | 'red' | 'grey' | 'blue'; shape: 'dot' | 'ring'; text: string }

export interface MatrixAccountNode extends Node<AccountCreds> {
  bot: MatrixBot | undefined;
  /** False when nothing at all is filled in: client nodes stay quiet instead of erring. */
  configured: boolean;
  accountStatus(): AccountStatus;
  /** Client nodes subscribe to status changes and commands. */
  subscribe(listener: AccountListener): () => void;
}

export interface AccountListener {
  status?(s: AccountStatus): void;
  command?(c: CommandMessage): void;
}

