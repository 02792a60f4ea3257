/* Generated from schemas/subscription.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Registering the image with Red Hat Subscription Management (and Insights or rhc) on its first boot: osbuild-composer's request-level customizations.subscription, field for field (its Subscription schema). A build option, not a blueprint field. The activation key is written into the image, as osbuild-composer does; Kiln never logs it.
 */
export interface Subscription {
  /**
   * The organization id to register to.
   */
  organization: string;
  /**
   * The activation key (a secret: it ends up in the image's /etc/osbuild-subscription-register.env until first boot).
   */
  activation_key: string;
  /**
   * The subscription server's host name (subscription-manager config --server.hostname); empty for the default.
   */
  server_url: string;
  /**
   * The content base URL given to subscription-manager register --baseurl.
   */
  base_url: string;
  /**
   * Register with Insights as well (insights-client --register).
   */
  insights: boolean;
  /**
   * Register with rhc connect, which always enables Insights.
   */
  rhc?: boolean;
  /**
   * Proxy for subscription-manager and insights-client: scheme://host:port or host:port (http assumed).
   */
  insights_client_proxy?: string;
  /**
   * A content template to register the system with, by UUID.
   */
  template_uuid?: string;
  /**
   * A content template to register the system with, by name (rhc only).
   */
  template_name?: string;
}
