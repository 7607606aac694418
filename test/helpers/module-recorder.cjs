// Preloaded with `node --require` into a CLI process: on exit, writes to $LOGINKIT_TEST_MODULES the files
// that process required and the Node built-ins it loaded after start-up, as JSON.
const { writeFileSync } = require('node:fs');

const atStart = new Set(process.moduleLoadList);
process.on('exit', () => {
  const builtins = process.moduleLoadList
    .filter((name) => !atStart.has(name) && name.startsWith('NativeModule '))
    .map((name) => name.slice('NativeModule '.length));
  writeFileSync(process.env.LOGINKIT_TEST_MODULES, JSON.stringify({ files: Object.keys(require.cache), builtins }));
});
