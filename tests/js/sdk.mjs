// Drives Scaleway's official JavaScript SDK against a server and prints one JSON object:
// {"inScope": [every "<Package>.<method>" the packages define that is in scope],
//  "results": {"<Package>.<method>": {"ok": true, "value": …} | {"ok": false, "error": …}},
//  "unexercised": [methods in scope that this script does not call]}.
//
// tests/api/test_js_sdk.py runs it against live_server and compares each answer with the database.
// One line per SDK method below: serving a new endpoint means nothing here changes, and a method
// a newer SDK adds shows up in "unexercised" until it gets its line.
//
// Environment: SCW_API_URL, SCW_ACCESS_KEY, SCW_SECRET_KEY, SCW_DEFAULT_ORGANIZATION_ID, and
// JS_SDK_INPUT, a JSON object: {recorded_after, recorded_before, user_id}.
// `node sdk.mjs rate-limit` instead calls ListProducts until refused and prints the error.

import { AuditTrailv1alpha1 } from '@scaleway/sdk-audit-trail'
import { createClient } from '@scaleway/sdk-client'
import { Iamv1alpha1 } from '@scaleway/sdk-iam'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

const client = createClient({
  apiURL: env('SCW_API_URL'),
  accessKey: env('SCW_ACCESS_KEY'),
  secretKey: env('SCW_SECRET_KEY'),
  defaultOrganizationId: env('SCW_DEFAULT_ORGANIZATION_ID'),
  defaultRegion: 'fr-par',
})
const input = JSON.parse(process.env.JS_SDK_INPUT ?? '{}')
const trail = new AuditTrailv1alpha1.API(client)
const iam = new Iamv1alpha1.API(client)

const window = {
  recordedAfter: input.recorded_after ? new Date(input.recorded_after) : undefined,
  recordedBefore: input.recorded_before ? new Date(input.recorded_before) : undefined,
}
const NO_SUCH_ID = '00000000-0000-4000-8000-000000000000'
// What earlier calls created, for the calls that act on it.
const state = {}

// [package, method, call]: in this order, since later calls use what earlier ones created.
const CALLS = [
  ['AuditTrail', 'listEvents', () => trail.listEvents({ ...window, pageSize: 1000 })],
  ['AuditTrail', 'listAuthenticationEvents', () => trail.listAuthenticationEvents({ ...window, pageSize: 1000 })],
  ['AuditTrail', 'listCombinedEvents', () => trail.listCombinedEvents({ ...window, pageSize: 1000 })],
  ['AuditTrail', 'listProducts', () => trail.listProducts()],
  ['AuditTrail', 'createExportJob', async () => (state.exportJob = await trail.createExportJob({ name: 'js-sdk', s3: { bucket: 'audit', region: 'fr-par', prefix: 'js-sdk/' } }))],
  ['AuditTrail', 'pageOfListExportJobs', () => trail.pageOfListExportJobs({ pageSize: 100 })],
  ['AuditTrail', 'listExportJobs', () => trail.listExportJobs({ pageSize: 1 }).all()],
  ['AuditTrail', 'deleteExportJob', () => trail.deleteExportJob({ exportJobId: state.exportJob?.id ?? NO_SUCH_ID })],
  ['Iam', 'pageOfListLogs', () => iam.pageOfListLogs({ orderBy: 'created_at_asc', pageSize: 100 })],
  ['Iam', 'listLogs', () => iam.listLogs({ orderBy: 'created_at_asc', pageSize: 1 }).all()],
  ['Iam', 'getLog', async () => iam.getLog({ logId: (await iam.pageOfListLogs({ orderBy: 'created_at_asc' })).logs[0].id })],
  ['Iam', 'createAPIKey', async () => (state.apiKey = await iam.createAPIKey({ userId: input.user_id, description: 'js-sdk' }))],
  ['Iam', 'getAPIKey', () => iam.getAPIKey({ accessKey: state.apiKey?.accessKey ?? 'SCWXXXXXXXXXXXXXXXXX' })],
  ['Iam', 'updateAPIKey', () => iam.updateAPIKey({ accessKey: state.apiKey?.accessKey ?? 'SCWXXXXXXXXXXXXXXXXX', description: 'js-sdk, renamed' })],
  ['Iam', 'pageOfListAPIKeys', () => iam.pageOfListAPIKeys({ pageSize: 100 })],
  ['Iam', 'listAPIKeys', () => iam.listAPIKeys({ pageSize: 1 }).all()],
  ['Iam', 'deleteAPIKey', () => iam.deleteAPIKey({ accessKey: state.apiKey?.accessKey ?? 'SCWXXXXXXXXXXXXXXXXX' })],
]

// The methods in scope: every one the Audit Trail package defines, and IAM's logs and API keys.
const defined = (name, api, keep) =>
  Object.keys(api)
    .filter((method) => typeof api[method] === 'function' && keep(method))
    .map((method) => `${name}.${method}`)
const IN_SCOPE = [
  ...defined('AuditTrail', trail, () => true),
  ...defined('Iam', iam, (method) => /Logs?$|APIKeys?$/.test(method)),
]

const describe = (error) => ({
  name: error?.name,
  message: error?.message,
  status: error?.status,
  body: error?.body,
  // TooManyRequestsError's own fields
  helpMessage: error?.helpMessage,
  limit: error?.limit,
  resetSeconds: error?.resetSeconds,
  resetAt: error?.resetAt,
})

const run = async (call) => {
  try {
    return { ok: true, value: (await call()) ?? null }
  } catch (error) {
    return { ok: false, error: describe(error) }
  }
}

const all = async () => {
  const results = {}
  for (const [pkg, method, call] of CALLS) results[`${pkg}.${method}`] = await run(call)
  return { inScope: IN_SCOPE, results, unexercised: IN_SCOPE.filter((name) => !(name in results)) }
}

const rateLimit = async () => {
  for (let attempt = 1; attempt <= 100; attempt += 1) {
    const result = await run(() => trail.listProducts())
    if (!result.ok) return { attempts: attempt, ...result }
  }
  return { ok: true, attempts: 100 }
}

const output = process.argv[2] === 'rate-limit' ? await rateLimit() : await all()
process.stdout.write(`${JSON.stringify(output)}\n`)
