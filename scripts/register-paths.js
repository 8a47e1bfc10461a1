// Resolves the @vh/* library aliases of tsconfig.json against the compiled output in dist/.
'use strict';
const path = require('node:path');
const { register } = require('tsconfig-paths');
const { compilerOptions } = require('../tsconfig.json');

register({ baseUrl: path.join(__dirname, '..', process.env.VH_DIST_DIR || 'dist'), paths: compilerOptions.paths });
