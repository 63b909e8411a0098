import pkg from '../package.json';

/** d7y-build's own version, from package.json. */
export const VERSION: string = pkg.version;
