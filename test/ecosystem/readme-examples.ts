// Configuration examples the README shows, byte for byte; the tests run them and readme check compares.

/** "Key commands": a key from 1Password's CLI, reused for 5 minutes. */
export const KEY_COMMAND_CONFIG =
  '{ "providers": { "openai": { "keyCommand": ["op", "read", "op://vault/openai/key"], "keyCommandTtl": 300 } } }';

/** "Accounts by project": config.json's rules. */
export const PROFILE_RULES_CONFIG =
  '{ "profileRules": [{ "directory": "~/work", "profile": "work" }, { "directory": "~/work/client-a", "profile": "client-a", "providers": ["openai"] }] }';

/** "Accounts by project": a project's own file. */
export const PROJECT_FILE_EXAMPLE = '{ "profile": "oss" }';
