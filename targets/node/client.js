// Client on Node `ws` (pinned in package.json; no compression), for wschaos's
// tests. Loopback only. The same two modes and output as
// targets/python/ws_echo_client.py:
//
//   node client.js --base ws://127.0.0.1:PORT [--case ID]...     # echo, for check-client
//   node client.js --traffic URL [--traffic URL]... [--messages 3] [--ping]
//   ... [--ca-file PEM]   # wss:// URLs: trust only this CA (default: Node's roots)
//
// Traffic: on every URL at once, send MESSAGES text messages and wait for each
// echo, send a ping and wait for the pong (with --ping), then close normally with
// 1000, or, when the URL's query has `close=server`, send the text `wschaos:close`
// and wait for the server to close. A step that fails or times out ends the
// traffic on that connection. Prints one JSON line per URL: what the client saw.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const WebSocket = require('ws');

const STEP_TIMEOUT_MS = 1500;

function parseArgs(argv) {
  const args = { base: null, cases: [], traffic: [], messages: 3, ping: false, ca: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--base') args.base = argv[++i];
    else if (a === '--case') args.cases.push(argv[++i]);
    else if (a === '--traffic') args.traffic.push(argv[++i]);
    else if (a === '--messages') args.messages = Number(argv[++i]);
    else if (a === '--ping') args.ping = true;
    else if (a === '--ca-file') args.ca = fs.readFileSync(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

// One connection's events as awaitable steps: each resolves on the event it
// waits for and rejects when the connection ends or the step times out.
function traffic(url, messages, ping, ca) {
  return new Promise((resolve) => {
    const seen = { url, echoes: 0, pong: false, error: null };
    const serverClose = (url.split('?')[1] || '').includes('close=server');
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 3000, ca });
    let waiting = null;
    let timer = null;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      resolve(seen);
    };
    const expect = (what) => {
      waiting = what;
      clearTimeout(timer);
      timer = setTimeout(() => {
        seen.error = seen.error || `timeout waiting for ${what}`;
        waiting = null;
        ws.close(1000);
        setTimeout(() => { ws.terminate(); finish(); }, 1000);
      }, STEP_TIMEOUT_MS);
    };
    let sent = 0;
    const next = () => {
      if (sent < messages) {
        sent += 1;
        ws.send(`message ${sent}`);
        expect('echo');
      } else if (ping && !seen.pong) {
        ws.ping(Buffer.from('wschaos-ping'));
        expect('pong');
      } else if (serverClose) {
        ws.send('wschaos:close');
        expect('close');
      } else {
        waiting = null;
        clearTimeout(timer);
        ws.close(1000);
      }
    };
    ws.on('open', next);
    ws.on('message', () => {
      if (waiting === 'echo') {
        seen.echoes += 1;
        next();
      }
    });
    ws.on('pong', () => {
      if (waiting === 'pong') {
        seen.pong = true;
        next();
      }
    });
    ws.on('error', (e) => {
      seen.error = seen.error || `${e.code || e.name}: ${e.message}`;
    });
    ws.on('close', (code) => {
      seen.close_code = code;
      finish();
    });
  });
}

function echoCase(url, ca) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 5000, ca });
    let error = null;
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', (e) => { error = e.code || e.name; });
    ws.on('close', (code) => resolve(error || `closed ${code}`));
  });
}

function getJson(url, ca) {
  return new Promise((resolve, reject) => {
    (url.startsWith('https:') ? https : http).get(url, { ca }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => {
        try { resolve(JSON.parse(body)); } catch (e) { reject(e); }
      });
    }).on('error', reject);
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.traffic.length) {
    const results = await Promise.all(args.traffic.map((u) => traffic(u, args.messages, args.ping, args.ca)));
    for (const seen of results) console.log(JSON.stringify(seen));
    return;
  }
  if (!args.base) throw new Error('--base or --traffic is required');
  const base = args.base.replace(/\/+$/, '');
  let cases = args.cases;
  const scheme = base.startsWith('wss://') ? 'https' : 'http';
  if (!cases.length) cases = await getJson(`${scheme}://${base.split('://')[1]}/cases`, args.ca);
  for (const c of cases) {
    console.log(`${c}: ${await echoCase(`${base}/case/${c}`, args.ca)}`);
  }
}

if (require.main === module) {
  main().then(() => process.exit(0), (e) => {
    console.error(e.message);
    process.exit(2);
  });
} else {
  // Other drivers (scripts/vs-autobahn.d/) echo cases exactly as this client does.
  module.exports = { echoCase };
}
