/**
 * The one install instruction for the Exchange module, shown by `check`, by a failed connect, and
 * word for word in the README and docs/deploy.md (a test holds them to it). PSResourceGet, the way
 * the Dockerfile saves the module into the image (Save-PSResource, same repository and version).
 */
export const EXCHANGE_MODULE_VERSION = '3.10.1';

export const EXCHANGE_MODULE_INSTALL = `pwsh -NoProfile -Command 'Install-PSResource -Name ExchangeOnlineManagement -Version ${EXCHANGE_MODULE_VERSION} -Repository PSGallery -TrustRepository'`;
