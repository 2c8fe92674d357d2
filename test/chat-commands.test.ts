import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand, isAdminCommand, HELP_TEXT } from '../lib/chat/commands';

test('MANTIS long forms and short aliases mean the same command', () => {
  assert.deepEqual(parseCommand('!take_picture'), { command: 'snapshot' });
  assert.deepEqual(parseCommand('!snapshot'), { command: 'snapshot' });
  assert.deepEqual(parseCommand('!record_video 20'), { command: 'record', seconds: 20 });
  assert.deepEqual(parseCommand('!record'), { command: 'record', seconds: 10 });
  assert.deepEqual(parseCommand('!enable_alarm_system'), { command: 'arm', mode: 'away' });
  assert.deepEqual(parseCommand('!arm night 1234'), { command: 'arm', mode: 'night', code: '1234' });
  assert.deepEqual(parseCommand('!arm 1234'), { command: 'arm', mode: 'away', code: '1234' });
  assert.deepEqual(parseCommand('!disable_alarm_system'), { command: 'disarm' });
  assert.deepEqual(parseCommand('  !DISARM 0000 '), { command: 'disarm', code: '0000' });
  assert.deepEqual(parseCommand('!is_alarm_system_enabled'), { command: 'status' });
});

test('plain text is not a command; malformed commands say why', () => {
  assert.equal(parseCommand('hello there'), null);
  assert.match((parseCommand('!launch') as { error: string }).error, /unknown command/);
  assert.match((parseCommand('!record -3') as { error: string }).error, /seconds/);
  assert.match((parseCommand('!record 9999') as { error: string }).error, /seconds/);
  assert.match((parseCommand('!help me') as { error: string }).error, /no arguments/);
});

test('only alarm commands are admin-only, and help lists every command', () => {
  assert.equal(isAdminCommand({ command: 'arm', mode: 'away' }), true);
  assert.equal(isAdminCommand({ command: 'disarm' }), true);
  assert.equal(isAdminCommand({ command: 'snapshot' }), false);
  for (const word of ['!help', '!snapshot', '!record', '!arm', '!disarm', '!status', '!exit']) {
    assert.ok(HELP_TEXT.includes(word), word);
  }
});
