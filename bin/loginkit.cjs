#!/usr/bin/env node
// With LOGINKIT_DEBUG=1, stack traces point into src/ (the bundle's source map is read only then).
if (process.env.LOGINKIT_DEBUG === '1') process.setSourceMapsEnabled(true);
require('../dist/cli/loginkit.cjs');
