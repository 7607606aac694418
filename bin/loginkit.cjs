#!/usr/bin/env node
const loader = require('./bundle-loader.cjs');
const bundle = require('node:path').join(__dirname, '../dist/cli/loginkit.cjs');
if (process.env.LOGINKIT_DEBUG !== '1' || !loader.loadWithSourceMap(bundle)) loader.load(bundle);
