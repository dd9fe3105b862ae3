/** Types of setup.mjs (plain JavaScript, so that it runs before any dependency is installed). */
export declare const root: string;
export declare const DEBIAN_PACKAGES: Record<string, string>;
export declare function onPath(cmd: string): boolean;
export declare function ensureNodeModules(): void;
export declare function ensureDebianPackages(commands: string[], opts?: { optional?: string[] }): void;
export declare function gitHead(): string | undefined;
