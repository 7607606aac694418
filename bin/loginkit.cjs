#!/usr/bin/env node
require('./bundle-loader.cjs').load(require('node:path').join(__dirname, '../dist/cli/loginkit.cjs'));
