// Loads the CLI bundle with the V8 code cache the build wrote beside it (`<bundle>.cache`): compiling the
// bundle is about a third of `loginkit token`'s start-up, and the cache skips it. The cache is a build
// product next to the code it belongs to, never written at run time. V8 keeps the file name the cache was
// made with (stack traces, and where import() resolves from), so a cache is used only by the bundle at the
// path it was made for, on the V8 it was made by; otherwise the bundle is compiled as usual. Code compiled
// here cannot run import(): the build routes the bundle's through cli/esm-import.cjs.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname } = require('node:path');
const { Script } = require('node:vm');

/** The bundle's source as CommonJS wraps it. */
function wrap(source) {
  return `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;
}

/** The cache file: a JSON line saying which bundle and V8 it is for, then V8's data. */
function cacheFor(file) {
  let bytes;
  try {
    bytes = readFileSync(`${file}.cache`);
  } catch {
    return undefined;
  }
  const newline = bytes.indexOf(10);
  try {
    const made = JSON.parse(bytes.subarray(0, newline).toString('utf8'));
    return made.file === file && made.v8 === process.versions.v8 ? bytes.subarray(newline + 1) : undefined;
  } catch {
    return undefined;
  }
}

/** The bundle at `file` compiled with its cache when there is one for it; `cachedDataRejected` says whether V8 refused it. */
function compile(file, cachedData = cacheFor(file)) {
  return new Script(wrap(readFileSync(file, 'utf8')), {
    filename: file,
    cachedData,
  });
}

/** Runs the bundle at `file` as `require(file)` would, registered in require.cache under its path. */
function load(file) {
  const module = new Module(file, require.main);
  module.filename = file;
  module.paths = Module._nodeModulePaths(dirname(file));
  Module._cache[file] = module;
  compile(file).runInThisContext().call(module.exports, module.exports, Module.createRequire(file), module, file, dirname(file));
  module.loaded = true;
  return module.exports;
}

/**
 * Writes the code cache for the bundle that `built` holds and that will be at `file` (the build swaps
 * folders), after running it once with `argv` (the build runs `status` in an empty home): V8 then caches
 * the functions that run compiled too, not only the bundle's top level. The run ends with process.exit.
 */
function runAndWriteCache(built, file, argv) {
  const script = new Script(wrap(readFileSync(built, 'utf8')), {
    filename: file,
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  process.on('exit', () => {
    const header = `${JSON.stringify({ file, v8: process.versions.v8 })}\n`;
    writeFileSync(`${built}.cache`, Buffer.concat([Buffer.from(header), script.createCachedData()]));
  });
  process.argv = [process.argv[0], file, ...argv];
  const module = new Module(built, require.main);
  module.filename = built;
  module.paths = Module._nodeModulePaths(dirname(built));
  script.runInThisContext().call(module.exports, module.exports, Module.createRequire(built), module, built, dirname(built));
}

module.exports = { compile, load, runAndWriteCache };
