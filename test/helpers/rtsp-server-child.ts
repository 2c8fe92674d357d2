// A small RTSP server (RFC 2326, RTP interleaved over TCP only), run as its own
// process by RtspCamera (test/helpers/rtsp.ts) so that it can be frozen with
// SIGSTOP like a hung camera. It relays the RTP packets that a real ffmpeg
// sends it over UDP (`-f rtp`) to every client that has sent PLAY, and answers
// DESCRIBE with that ffmpeg's SDP. Prints "udp <rtp> <rtcp>" once its UDP
// ports are bound, "listening" once the stream's SDP is there and the RTSP port
// open, then one "connection" line per TCP connection accepted.
// argv: tcpPort sdpPath
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';

const [tcpPort, sdpPath] = [Number(process.argv[2]), process.argv[3]!];
const playing = new Set<Socket>();

function sdp(): string {
  // Ours: a control URL per track; the client connects to us, not to the UDP address ffmpeg wrote.
  return readFileSync(sdpPath, 'utf8').replace(/^c=IN IP4 .*$/m, 'c=IN IP4 0.0.0.0')
    .replace(/^m=video \d+ (.*)$/m, 'm=video 0 $1\r\na=control:track0').replace(/\r?\n/g, '\r\n');
}

function reply(sock: Socket, cseq: string, status: string, headers: Record<string, string> = {}, body = ''): void {
  const h = { CSeq: cseq, ...headers, ...(body ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) };
  sock.write(`RTSP/1.0 ${status}\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`);
}

function handle(sock: Socket, head: string): void {
  const [requestLine, ...lines] = head.split('\r\n');
  const [method, url] = requestLine!.split(' ');
  const header = (name: string) => lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))?.replace(/^[^:]+:\s*/, '') ?? '';
  const cseq = header('CSeq');
  switch (method) {
    case 'OPTIONS':
      return reply(sock, cseq, '200 OK', { Public: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER' });
    case 'DESCRIBE':
      return reply(sock, cseq, '200 OK', { 'Content-Base': `${url!.replace(/\/?$/, '/')}`, 'Content-Type': 'application/sdp' }, sdp());
    case 'SETUP':
      if (!/RTP\/AVP\/TCP/.test(header('Transport'))) return reply(sock, cseq, '461 Unsupported Transport');
      return reply(sock, cseq, '200 OK', { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1', Session: '4f6d616e;timeout=60' });
    case 'PLAY':
      playing.add(sock);
      return reply(sock, cseq, '200 OK', { Session: '4f6d616e', Range: 'npt=0.000-' });
    case 'GET_PARAMETER':
      return reply(sock, cseq, '200 OK', { Session: '4f6d616e' });
    case 'TEARDOWN':
      playing.delete(sock);
      reply(sock, cseq, '200 OK');
      sock.end();
      return;
    default:
      return reply(sock, cseq, '405 Method Not Allowed');
  }
}

const rtp = createSocket('udp4');
const rtcp = createSocket('udp4');
rtp.on('message', (packet) => {
  const frame = Buffer.allocUnsafe(4 + packet.length);
  frame[0] = 0x24; frame[1] = 0; frame.writeUInt16BE(packet.length, 2);
  packet.copy(frame, 4);
  for (const s of playing) if (s.writable) s.write(frame);
});
rtcp.on('message', () => undefined); // sender reports: not needed by the clients

const server = createServer((sock) => {
  process.stdout.write('connection\n');
  let buf = Buffer.alloc(0);
  sock.on('data', (b: Buffer) => {
    buf = Buffer.concat([buf, b]);
    for (;;) {
      if (buf[0] === 0x24) { // the client's interleaved RTCP: skip it
        if (buf.length < 4) return;
        const len = 4 + buf.readUInt16BE(2);
        if (buf.length < len) return;
        buf = buf.subarray(len);
        continue;
      }
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString();
      const bodyLen = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + bodyLen) return;
      buf = buf.subarray(end + 4 + bodyLen);
      handle(sock, head);
    }
  });
  sock.on('error', () => undefined);
  sock.on('close', () => playing.delete(sock));
});

// Like a camera booting: the RTSP port opens once there is a stream to describe.
function listenOnceStreaming(): void {
  if (!existsSync(sdpPath)) { setTimeout(listenOnceStreaming, 50); return; }
  server.listen(tcpPort, '127.0.0.1', () => process.stdout.write('listening\n'));
}

rtp.bind(0, '127.0.0.1', () => rtcp.bind(0, '127.0.0.1', () => {
  process.stdout.write(`udp ${rtp.address().port} ${rtcp.address().port}\n`);
  listenOnceStreaming();
}));
