// Which argument of which tool names a resource, under which constraint: written by hand from what
// each tool means (its description and the upstream API), NOT read from the code under test — so
// a tool that forgot to report an argument is attacked here all the same, and its escape shows up
// as a request outside the grant. Paths index into the samples of ./instances.ts.
export type Target = [path: (string | number)[], constraint: string];

const channel: Target = [['channel'], 'channels'];
const kv: Target[] = [
  [['namespace_id'], 'namespaces'],
  [['key'], 'key_prefix'],
];
const r2: Target[] = [
  [['bucket'], 'buckets'],
  [['key'], 'key_prefix'],
];
const workflow: Target = [['workflow'], 'workflows'];
const zone: Target = [['zone_id'], 'zones'];
const secret: Target[] = [
  [['config'], 'configs'],
  [['name'], 'secrets'],
];

export const TARGETS: Record<string, Record<string, Target[]>> = {
  slack: {
    read_history: [channel],
    read_thread: [channel],
    get_permalink: [channel],
    post_message: [channel],
    reply_in_thread: [channel],
    update_message: [channel],
    delete_message: [channel],
    add_reaction: [channel, [['emoji'], 'emoji']],
  },
  cloudflare: {
    get_worker: [[['name'], 'scripts']],
    delete_worker: [[['name'], 'scripts']],
    smoke_check_worker: [[['name'], 'scripts']],
    // the sample's bindings are, in order, a KV namespace, an R2 bucket and a D1 database
    deploy_worker: [
      [['name'], 'scripts'],
      [['bindings', 0, 'value'], 'namespaces'],
      [['bindings', 1, 'value'], 'buckets'],
      [['bindings', 2, 'value'], 'databases'],
    ],
    kv_list_keys: [
      [['namespace_id'], 'namespaces'],
      [['prefix'], 'key_prefix'],
    ],
    kv_get: kv,
    kv_put: kv,
    kv_delete: kv,
    r2_list_objects: [
      [['bucket'], 'buckets'],
      [['prefix'], 'key_prefix'],
    ],
    r2_get_object: r2,
    r2_put_object: r2,
    r2_delete_object: r2,
    d1_query: [[['database_id'], 'databases']],
    workflow_list_instances: [workflow],
    workflow_get_instance: [workflow],
    workflow_create_instance: [workflow],
    dns_list_records: [zone],
    dns_upsert_record: [zone, [['name'], 'names'], [['type'], 'types']],
    dns_delete_record: [zone],
  },
  doppler: {
    list_secret_names: [[['config'], 'configs']],
    get_secret: secret,
    compare_configs: [
      [['from'], 'configs'],
      [['to'], 'configs'],
    ],
    config_activity: [[['config'], 'configs']],
    set_secret: secret,
    delete_secret: secret,
  },
};
