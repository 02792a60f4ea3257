/* Generated from schemas/kickstart-translation.schema.json by `npm run gen:types`. Do not edit. */

/**
 * POST {API_BASE}/kickstart (Kiln's own): what a kickstart becomes for an image Kiln builds (osbuild runs no kickstart): the blueprint its commands and %packages translate to, the customizations Kiln applies from it, and line by line what was applied, what was not (no equivalent, or not supported by Kiln yet: %post above all) and what was ignored (installer-only commands).
 */
export interface KickstartTranslation {
  blueprint: {};
  customizations: Customizations;
  applied: Line[];
  not_applied: Note[];
  ignored: Note[];
}
/**
 * The subset of osbuild-composer cloud API image request customizations Kiln applies to an image (field names as in the cloud API).
 */
export interface Customizations {
  /**
   * Extra packages for the OS package set, depsolved in a transaction on top of the image type's own.
   */
  packages?: string[];
  users?: {
    name: string;
    /**
     * SSH public key(s), one per line.
     */
    key?: string;
    groups?: string[];
    /**
     * A crypt(3) hash ($6$, $5$, $y$ or $2b$); plain-text passwords are refused.
     */
    password?: string;
  }[];
  hostname?: string;
  timezone?: {
    timezone?: string;
  };
  kernel?: {
    /**
     * Appended to the kernel command line.
     */
    append?: string;
  };
  services?: {
    enabled?: string[];
    disabled?: string[];
  };
}
export interface Line {
  line: number;
  text: string;
}
export interface Note {
  line: number;
  text: string;
  reason: string;
}
