#!/usr/bin/env node
const { join } = require('node:path');

const bundle = join(__dirname, '../dist/cli/loginkit.cjs');
if (process.env.LOGINKIT_DEBUG === '1') {
  // Stack traces point into src/ (the bundle's source map is read only then).
  process.setSourceMapsEnabled(true);
  require(bundle);
} else {
  require('./bundle-loader.cjs').load(bundle);
}
