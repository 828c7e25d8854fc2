// Drives Scaleway's official JavaScript SDK against a server and prints one JSON object:
// {"defined": [every "<Package>.<method>" the two packages define],
//  "results": {"<Package>.<method>": {"ok": true, "value": …} | {"ok": false, "error": …}}}.
//
// tests/api/test_js_sdk.py runs it against live_server and compares each answer with the database.
// One line per SDK method below: serving a new endpoint means nothing here changes, and a method
// a newer SDK adds is neither called nor listed out of scope, which the test refuses.
//
// Environment: SCW_API_URL, SCW_ACCESS_KEY, SCW_SECRET_KEY, SCW_DEFAULT_ORGANIZATION_ID, and
// JS_SDK_INPUT, a JSON object: {recorded_after, recorded_before, user_id, organization_id, project_id,
// auditor_id, member_id, and the console's objects: console_application_id, console_group_id,
// console_policy_id, doomed_application_id, doomed_group_id}.
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
  // IAM: what the SDK makes it names "js-…"; what the console made comes in JS_SDK_INPUT.
  ['Iam', 'pageOfListPermissionSets', () => iam.pageOfListPermissionSets({ orderBy: 'name_asc', pageSize: 100 })],
  ['Iam', 'listPermissionSets', () => iam.listPermissionSets({ orderBy: 'name_asc', pageSize: 10 }).all()],
  ['Iam', 'createApplication', async () => (state.application = await iam.createApplication({ name: 'js-app', description: 'made by the JS SDK' }))],
  ['Iam', 'getApplication', () => iam.getApplication({ applicationId: input.console_application_id })],
  ['Iam', 'updateApplication', () => iam.updateApplication({ applicationId: state.application?.id ?? NO_SUCH_ID, name: 'js-app-renamed' })],
  ['Iam', 'pageOfListApplications', () => iam.pageOfListApplications({ pageSize: 100 })],
  ['Iam', 'listApplications', () => iam.listApplications({ pageSize: 1 }).all()],
  ['Iam', 'deleteApplication', () => iam.deleteApplication({ applicationId: input.doomed_application_id })],
  ['Iam', 'createGroup', async () => (state.group = await iam.createGroup({ name: 'js-group', description: 'made by the JS SDK' }))],
  ['Iam', 'getGroup', () => iam.getGroup({ groupId: input.console_group_id })],
  ['Iam', 'updateGroup', () => iam.updateGroup({ groupId: state.group?.id ?? NO_SUCH_ID, name: 'js-group-renamed' })],
  ['Iam', 'addGroupMember', () => iam.addGroupMember({ groupId: state.group?.id ?? NO_SUCH_ID, userId: input.member_id })],
  ['Iam', 'addGroupMembers', () => iam.addGroupMembers({ groupId: state.group?.id ?? NO_SUCH_ID, userIds: [input.auditor_id], applicationIds: [state.application?.id ?? NO_SUCH_ID] })],
  ['Iam', 'removeGroupMember', () => iam.removeGroupMember({ groupId: state.group?.id ?? NO_SUCH_ID, userId: input.member_id })],
  ['Iam', 'setGroupMembers', () => iam.setGroupMembers({ groupId: input.console_group_id, userIds: [input.member_id], applicationIds: [] })],
  ['Iam', 'pageOfListGroups', () => iam.pageOfListGroups({ pageSize: 100 })],
  ['Iam', 'listGroups', () => iam.listGroups({ pageSize: 1 }).all()],
  ['Iam', 'deleteGroup', () => iam.deleteGroup({ groupId: input.doomed_group_id })],
  ['Iam', 'createPolicy', async () => (state.policy = await iam.createPolicy({ name: 'js-policy', description: 'made by the JS SDK', groupId: state.group?.id, rules: [{ condition: '', permissionSetNames: ['AuditTrailReadOnly'], organizationId: input.organization_id }] }))],
  ['Iam', 'getPolicy', () => iam.getPolicy({ policyId: input.console_policy_id })],
  ['Iam', 'updatePolicy', () => iam.updatePolicy({ policyId: state.policy?.id ?? NO_SUCH_ID, name: 'js-policy-renamed', description: 'renamed by the JS SDK' })],
  ['Iam', 'setRules', () => iam.setRules({ policyId: state.policy?.id ?? NO_SUCH_ID, rules: [{ condition: '', permissionSetNames: ['IAMReadOnly'], organizationId: input.organization_id }, { condition: '', permissionSetNames: ['SecretManagerFullAccess'], projectIds: [input.project_id] }] })],
  ['Iam', 'pageOfListRules', () => iam.pageOfListRules({ policyId: state.policy?.id ?? NO_SUCH_ID, pageSize: 100 })],
  ['Iam', 'listRules', () => iam.listRules({ policyId: state.policy?.id ?? NO_SUCH_ID, pageSize: 1 }).all()],
  ['Iam', 'clonePolicy', async () => (state.clone = await iam.clonePolicy({ policyId: state.policy?.id ?? NO_SUCH_ID }))],
  ['Iam', 'pageOfListPolicies', () => iam.pageOfListPolicies({ orderBy: 'policy_name_asc', pageSize: 100 })],
  ['Iam', 'listPolicies', () => iam.listPolicies({ orderBy: 'policy_name_asc', pageSize: 1 }).all()],
  ['Iam', 'deletePolicy', () => iam.deletePolicy({ policyId: state.clone?.id ?? NO_SUCH_ID })],
  ['Iam', 'createUser', async () => (state.invitee = await iam.createUser({ email: 'js-newcomer@example.org' }))],
  ['Iam', 'getUser', () => iam.getUser({ userId: input.auditor_id })],
  ['Iam', 'pageOfListUsers', () => iam.pageOfListUsers({ pageSize: 100 })],
  ['Iam', 'listUsers', () => iam.listUsers({ pageSize: 1 }).all()],
  ['Iam', 'deleteUser', () => iam.deleteUser({ userId: state.invitee?.id ?? NO_SUCH_ID })],
]

// Every method the two packages define; tests/api/test_js_sdk.py lists those out of scope.
const defined = (name, api) =>
  Object.keys(api)
    .filter((method) => typeof api[method] === 'function')
    .map((method) => `${name}.${method}`)
const DEFINED = [...defined('AuditTrail', trail), ...defined('Iam', iam)]

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
  return { defined: DEFINED, results }
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
