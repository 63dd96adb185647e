// What a `read` statement may name, besides tables and views: functions and table-valued
// functions (eponymous virtual tables, pragma_* among them) known to read and never write. A
// table-valued pragma function is the PRAGMA it wraps: only pragmas that report on the schema are
// here, and their argument can only name a schema object. Everything not listed is refused.
export const READ_FUNCTIONS = new Set([
  // core scalar
  'abs', 'char', 'coalesce', 'concat', 'concat_ws', 'format', 'glob', 'hex', 'ifnull', 'iif', 'if', 'instr', 'length', 'like',
  'likelihood', 'likely', 'lower', 'ltrim', 'max', 'min', 'nullif', 'octet_length', 'printf', 'quote', 'random', 'randomblob',
  'replace', 'round', 'rtrim', 'sign', 'soundex', 'substr', 'substring', 'trim', 'typeof', 'unhex', 'unicode', 'unlikely', 'upper',
  'zeroblob', 'sqlite_version', 'sqlite_source_id', 'stat_get', 'sqlite_offset',
  // date and time
  'date', 'time', 'datetime', 'julianday', 'unixepoch', 'strftime', 'timediff', 'current_date', 'current_time', 'current_timestamp',
  // aggregates
  'avg', 'count', 'group_concat', 'string_agg', 'sum', 'total', 'median', 'percentile', 'percentile_cont', 'percentile_disc',
  // window
  'row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile', 'lag', 'lead', 'first_value', 'last_value', 'nth_value',
  // math
  'acos', 'acosh', 'asin', 'asinh', 'atan', 'atan2', 'atanh', 'ceil', 'ceiling', 'cos', 'cosh', 'degrees', 'exp', 'floor', 'ln',
  'log', 'log10', 'log2', 'mod', 'pi', 'pow', 'power', 'radians', 'sin', 'sinh', 'sqrt', 'tan', 'tanh', 'trunc',
  // JSON (values in, values out)
  'json', 'jsonb', 'json_array', 'jsonb_array', 'json_array_length', 'json_error_position', 'json_extract', 'jsonb_extract',
  'json_insert', 'jsonb_insert', 'json_object', 'jsonb_object', 'json_patch', 'jsonb_patch', 'json_pretty', 'json_quote',
  'json_remove', 'jsonb_remove', 'json_replace', 'jsonb_replace', 'json_set', 'jsonb_set', 'json_type', 'json_valid',
  'json_group_array', 'jsonb_group_array', 'json_group_object', 'jsonb_group_object', '->', '->>',
]);

/** Pragmas that only report on the schema; as table-valued functions their argument names an object. */
export const READ_PRAGMAS = new Set([
  'table_info', 'table_xinfo', 'table_list', 'index_list', 'index_info', 'index_xinfo', 'foreign_key_list',
  'database_list', 'collation_list', 'function_list', 'module_list', 'pragma_list', 'compile_options',
]);

/** Table-valued functions that are not pragmas. */
export const READ_TABLE_FUNCTIONS = new Set(['json_each', 'json_tree', 'jsonb_each', 'jsonb_tree', 'generate_series']);
