// Echo server on Node `ws` (pinned in package.json; its defaults: 100 MiB
// maxPayload, pings answered, no permessage-deflate), for wschaos's integration
// tests. Listens on 127.0.0.1 only; prints `listening on ws://127.0.0.1:PORT/` once
// ready. The text message `wschaos:close` is not echoed: the server closes the
// connection with 1000.
//
//   node echo_server.js [--port N] [--tls-cert PEM --tls-key PEM]
//
// With --tls-cert and --tls-key it serves wss:// (Node's https server) and
// prints `listening on wss://127.0.0.1:PORT/`.
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const port = Number(arg('--port') || 0);
const cert = arg('--tls-cert');
let wss;
if (cert) {
  const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(arg('--tls-key')) });
  wss = new WebSocketServer({ server });
  server.listen(port, '127.0.0.1', () => {
    console.log(`listening on wss://127.0.0.1:${server.address().port}/`);
  });
} else {
  wss = new WebSocketServer({ host: '127.0.0.1', port });
  wss.on('listening', () => {
    console.log(`listening on ws://127.0.0.1:${wss.address().port}/`);
  });
}
wss.on('connection', (ws) => {
  // A protocol error: ws has already sent its Close with the error code.
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === 'wschaos:close') {
      ws.close(1000);
      return;
    }
    ws.send(data, { binary: isBinary });
  });
});
