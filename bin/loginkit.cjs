#!/usr/bin/env node
require('../dist/cli/loginkit.cjs');
