/* Generated from schemas/compose-check.schema.json by `npm run gen:types`. Do not edit. */

/**
 * POST {API_BASE}/compose/check (Kiln's own): a compose request that passed every check POST /compose makes, and what Kiln would build from it; nothing is created. A request that would be refused is refused the same way (400 naming the field).
 */
export interface ComposeCheck {
  href: string;
  kind: 'ComposeCheck';
  customizations?: Customizations;
  images: {
    arch: string;
    /**
     * The image type's canonical name.
     */
    image_type: string;
    /**
     * The image's Koji file name.
     */
    filename: string;
  }[];
}
/**
 * The customizations the images get (a blueprint's, converted).
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
