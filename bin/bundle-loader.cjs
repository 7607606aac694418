// Loads the CLI bundle with a V8 code cache: compiling the bundle is about a third of `loginkit token`'s
// start-up, and the cache skips it. V8 keeps the file name a cache was made with (stack traces, and where
// import() resolves from), and a package can be installed anywhere, so the cache is made where it is used:
// the first successful run of a command of a bundle at its path writes it, on exit, in loginkit's cache
// folder (one file per bundle path and command), stamped with the bundle's path, its build id and the V8 version; a cache whose stamp differs, or
// that V8 refuses, is ignored and written again. The folder must be this user's alone (0700, made so here);
// files are written whole (a temporary file renamed over). Where none of that is possible the bundle is
// just compiled every time. Code compiled here cannot run import(): the build routes the bundle's through
// cli/esm-import.cjs.
'use strict';
const { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { homedir } = require('node:os');
const { basename, dirname, join } = require('node:path');
const { Script } = require('node:vm');

/** The bundle's source as CommonJS wraps it. */
function wrap(source) {
  return `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
}

/** loginkit's cache folder: $XDG_CACHE_HOME/loginkit, or the platform's cache folder. */
function cacheFolder(env = process.env) {
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'loginkit');
  if (process.platform === 'win32') return join(env.LOCALAPPDATA || join(homedir(), 'AppData', 'Local'), 'loginkit', 'cache');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'loginkit');
  return join(homedir(), '.cache', 'loginkit');
}

/** A short name for the bundle's path (FNV-1a: node:crypto would cost more than the cache saves). */
function pathKey(file) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < file.length; i++) hash = Math.imul(hash ^ file.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}

/**
 * Where the cache of the bundle at `file` for the command in `argv` lives: one per command, holding the
 * functions that command runs (`token`'s is small, so quick to read).
 */
function cacheFile(file, argv, env) {
  const command = argv.find((argument) => !argument.startsWith('-'));
  const name = command && /^[a-z][a-z-]{0,19}$/.test(command) ? command : 'other';
  try {
    return join(cacheFolder(env), `cli-${pathKey(file)}-${name}.v8cache`);
  } catch {
    return undefined; // no home folder to be found: no cache
  }
}

/** The first line of every cache file: which bundle (path and build) and which V8 it was made for. */
function stamp(file, source) {
  const build = /\/\/ loginkit build (\S+)\n$/.exec(source.slice(-64))?.[1] ?? `${source.length}`;
  return `${JSON.stringify({ file, build, v8: process.versions.v8 })}\n`;
}

/** Whether `folder` is a real folder that only this user can write to. */
function isPrivateFolder(folder) {
  try {
    const stats = lstatSync(folder);
    if (!stats.isDirectory()) return false;
    return process.platform === 'win32' || (stats.uid === process.getuid() && (stats.mode & 0o022) === 0);
  } catch {
    return false;
  }
}

/** V8's data in the cache file at `path`, when that file carries `expected` as its stamp. */
function readCache(path, expected) {
  if (path === undefined || !isPrivateFolder(dirname(path))) return undefined;
  let bytes;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  const newline = bytes.indexOf(10);
  return newline > 0 && bytes.subarray(0, newline + 1).toString('utf8') === expected ? bytes.subarray(newline + 1) : undefined;
}

/** Writes what `data()` gives under `header` to `path` as a whole file, in a folder made private; gives up quietly. */
function writeCache(path, header, data) {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    if (!isPrivateFolder(dirname(path))) return;
    writeFileSync(temporary, Buffer.concat([Buffer.from(header), data()]), { mode: 0o600, flag: 'wx' });
    renameSync(temporary, path);
  } catch {
    rmSync(temporary, { force: true });
  }
}

/**
 * The bundle at `file` compiled with the cache made for it and the command in `argv`, if any;
 * `cachedDataRejected` is undefined when there was none to offer. `save()` writes a cache from what has
 * run so far, when none was used.
 */
function compile(file, argv = process.argv.slice(2), env = process.env) {
  const source = readFileSync(file, 'utf8');
  const header = stamp(file, source);
  const path = cacheFile(file, argv, env);
  const script = new Script(wrap(source), { filename: file, cachedData: readCache(path, header) });
  const save = () => {
    if (path !== undefined && script.cachedDataRejected !== false) writeCache(path, header, () => script.createCachedData());
  };
  return { script, cachedDataRejected: script.cachedDataRejected, save };
}

/**
 * Runs the bundle at `file` as `require(file)` would, registered in require.cache under its path. On a
 * successful exit, a run that had no usable cache writes one: by then V8 has compiled the functions the
 * command ran too.
 */
function load(file) {
  const module = new Module(file, require.main);
  module.filename = file;
  module.paths = Module._nodeModulePaths(dirname(file));
  Module._cache[file] = module;
  const { script, save } = compile(file);
  process.once('exit', (code) => code === 0 && save());
  script.runInThisContext().call(module.exports, module.exports, Module.createRequire(file), module, file, dirname(file));
  module.loaded = true;
  return module.exports;
}

/**
 * In a clone with LOGINKIT_DEBUG=1: runs the bundle at `file` with its source map (the build writes
 * `<file>.map`, which the package does not ship), so that stack traces point into src/. False when there
 * is no map: stack traces then name the bundle's lines, with the source's names.
 */
function loadWithSourceMap(file) {
  const map = `${file}.map`;
  try {
    lstatSync(map);
  } catch {
    return false;
  }
  process.setSourceMapsEnabled(true);
  const module = new Module(file, require.main);
  module.filename = file;
  module.paths = Module._nodeModulePaths(dirname(file));
  Module._cache[file] = module;
  module._compile(`${readFileSync(file, 'utf8')}//# sourceMappingURL=${basename(map)}\n`, file);
  module.loaded = true;
  return true;
}

module.exports = { cacheFolder, compile, load, loadWithSourceMap };
