// Echo server on Node `ws` (pinned in package.json; its defaults: 100 MiB
// maxPayload, pings answered, no permessage-deflate), for wschaos's integration
// tests. Listens on 127.0.0.1 only; prints `listening on ws://127.0.0.1:PORT/` once
// ready. The text message `wschaos:close` is not echoed: the server closes the
// connection with 1000.
//
//   node echo_server.js [--port N]
'use strict';
const { WebSocketServer } = require('ws');

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : 0;
const wss = new WebSocketServer({ host: '127.0.0.1', port });
wss.on('listening', () => {
  console.log(`listening on ws://127.0.0.1:${wss.address().port}/`);
});
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
