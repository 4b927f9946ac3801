import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { PlcServer, Database } from '@did-plc/server';
import * as pdsLib from '@atproto/pds';
import { Secp256k1Keypair } from '@atproto/crypto';

const [plcPort, pdsPort] = process.argv.slice(2).map(Number);
const plcDb = Database.mock();
const plc = PlcServer.create({ db: plcDb, port: plcPort });
await plc.start();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pds-'));
const rotation = await Secp256k1Keypair.create({ exportable: true });
const env = {
  port: pdsPort, hostname: 'localhost', dataDirectory: dir, blobstoreDiskLocation: path.join(dir, 'blobs'),
  jwtSecret: crypto.randomBytes(16).toString('hex'), adminPassword: 'admin-pass',
  plcRotationKeyK256PrivateKeyHex: Buffer.from(await rotation.export()).toString('hex'),
  didPlcUrl: `http://localhost:${plcPort}`, devMode: true, inviteRequired: false,
  serviceHandleDomains: ['.test'], bskyAppViewUrl: undefined,
};
const cfg = pdsLib.envToCfg(env);
const secrets = pdsLib.envToSecrets(env);
const pds = await pdsLib.PDS.create(cfg, secrets);
await pds.start();
console.log(JSON.stringify({ ready: `http://localhost:${pdsPort}` }));
