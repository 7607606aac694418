#!/usr/bin/env node
import '../dist/cli/loginkit.js';
