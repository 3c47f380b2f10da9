// Drives Autobahn|Testsuite's fuzzingserver with the Node `ws` client under test.
// targets/node/client.js speaks wschaos's check-client protocol (/cases,
// /case/<id>); Autobahn wants getCaseCount, runCase?case=N&agent=A and
// updateReports?agent=A. Each case is echoed exactly as client.js's echo mode does
// (same constructor options, same echo), so both tools test the same client:
//
//   NODE_PATH=targets/node/node_modules node autobahn_client.js --url ws://127.0.0.1:PORT --agent NAME
//
// Prints one line per case (`N: outcome`) and exits 0 once updateReports has answered.
'use strict';
const WebSocket = require('ws');

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`${name} is required`);
  return process.argv[i + 1];
}

// The echo of the client under test, from targets/node/client.js itself.
const { echoCase } = require('../../targets/node/client.js');

function firstMessage(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let got = null;
    ws.on('message', (data) => { if (got === null) got = data.toString(); });
    ws.on('error', reject);
    ws.on('close', () => resolve(got));
  });
}

async function main() {
  const url = arg('--url').replace(/\/+$/, '');
  const agent = encodeURIComponent(arg('--agent'));
  const count = JSON.parse(await firstMessage(`${url}/getCaseCount`));
  for (let n = 1; n <= count; n++) {
    console.log(`${n}: ${await echoCase(`${url}/runCase?case=${n}&agent=${agent}`)}`);
  }
  await firstMessage(`${url}/updateReports?agent=${agent}`);
}

main().then(() => process.exit(0), (e) => {
  console.error(e.message);
  process.exit(2);
});
