/* Generated from schemas/customizations.schema.json by `npm run gen:types`. Do not edit. */

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
