import { ConfigError } from '../errors.js';
import { errorCode } from './errno.js';

/**
 * Loads an optional peer dependency through `load` (an `import()` of `name` as a string literal, which the
 * CLI build can see), or throws a ConfigError that names the one command installing it: a package installed
 * without its optional peers leaves them out, and only those who use a feature install what it needs.
 */
export async function importOptional<T>(name: string, purpose: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (!isMissingPackage(error, name)) throw error;
    throw new ConfigError(`${purpose} needs the package ${name}, which is not installed: npm install ${name}`, { cause: error });
  }
}

/** Whether `error` says that `name` itself (not one of its own dependencies) could not be found. */
function isMissingPackage(error: unknown, name: string): boolean {
  const code = errorCode(error);
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return (error as Error).message.includes(`'${name}'`);
}
