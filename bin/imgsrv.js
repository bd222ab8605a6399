#!/usr/bin/env node
// `npx imgsrv` from a checkout: the CLI lives in its own package (cli/, an npm workspace).
'use strict';
require('../cli/bin/imgsrv.js');
