# syntax=docker/dockerfile:1
#
# The Function App's image: the Azure Functions Node 22 host, PowerShell 7.6 and the
# ExchangeOnlineManagement module saved into the image (nothing is downloaded at run time), and
# the compiled app in /home/site/wwwroot. `azd up` builds it in the environment's Azure Container
# Registry (azure.yaml: docker.remoteBuild). It was not built on the machines this repo is
# developed on (no container registry is reachable there); test/unit/infra.test.ts checks its
# structure and that the versions below agree with docs/deploy.md and the PowerShell engine the
# tests run on. Change a version here and there together.

# --- build: compile the TypeScript, then keep production dependencies only ---------------------
# Built on the same image as the runtime: it already has Node 22, and no second registry is involved.
FROM mcr.microsoft.com/azure-functions/node:4-node22-appservice AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# .dockerignore keeps the context to what the build reads (no node_modules, tests, docs, infra).
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# --- runtime -----------------------------------------------------------------------------------
# The -appservice flavour adds the SSH endpoint the portal's SSH console uses (handy to run pwsh
# in the container). Its start script runs the Functions host; CMD stays the base image's.
FROM mcr.microsoft.com/azure-functions/node:4-node22-appservice

# PowerShell 7.6 (.NET 10) is what ExchangeOnlineManagement 3.10.x requires; 3.10.x is the
# module line for 7.6 (older lines target .NET 8 / 6).
ARG PWSH_VERSION=7.6.9
ARG EXCHANGE_ONLINE_MANAGEMENT_VERSION=3.10.1

# The app imports the Exchange module by name, so PSModulePath decides which one loads: ours.
# (pwsh puts its own module folders in front of an inherited PSModulePath, so its built-in modules
# still load.) AzureWebJobsScriptRoot is where the Functions host looks for the app.
ENV PSModulePath=/opt/exo-workflow-sync/psmodules \
    POWERSHELL_TELEMETRY_OPTOUT=1 \
    POWERSHELL_UPDATECHECK=Off \
    AzureWebJobsScriptRoot=/home/site/wwwroot \
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true

# PowerShell from Microsoft's signed apt repository for this Debian release, at an exact version.
RUN set -eux; \
    . /etc/os-release; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    curl -fsSL -o /tmp/packages-microsoft-prod.deb \
      "https://packages.microsoft.com/config/${ID}/${VERSION_ID}/packages-microsoft-prod.deb"; \
    dpkg -i /tmp/packages-microsoft-prod.deb; \
    rm /tmp/packages-microsoft-prod.deb; \
    apt-get update; \
    apt-get install -y --no-install-recommends "powershell=${PWSH_VERSION}-1.deb"; \
    rm -rf /var/lib/apt/lists/*; \
    test "$(pwsh -NoLogo -NoProfile -NonInteractive -Command '$PSVersionTable.PSVersion.ToString()')" = "${PWSH_VERSION}"

# The Exchange module, saved at build time into the folder PSModulePath names, then imported once
# to prove this pwsh loads exactly that version.
RUN set -eux; \
    mkdir -p /opt/exo-workflow-sync/psmodules; \
    pwsh -NoLogo -NoProfile -NonInteractive -Command ' \
      $ErrorActionPreference = "Stop"; \
      Save-PSResource -Name ExchangeOnlineManagement -Version $env:EXCHANGE_ONLINE_MANAGEMENT_VERSION \
        -Repository PSGallery -TrustRepository -Path /opt/exo-workflow-sync/psmodules; \
      $module = Import-Module ExchangeOnlineManagement -PassThru; \
      if ($module.Version.ToString() -ne $env:EXCHANGE_ONLINE_MANAGEMENT_VERSION) { \
        throw "loaded ExchangeOnlineManagement $($module.Version), expected $env:EXCHANGE_ONLINE_MANAGEMENT_VERSION" \
      }'; \
    chmod -R a+rX /opt/exo-workflow-sync/psmodules

# The compiled app where the Functions host looks for it (AzureWebJobsScriptRoot). The PowerShell
# module of the app itself ships inside dist/ (npm run build copies it there).
WORKDIR /home/site/wwwroot
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY host.json ./
# Profile files (EXO_PROFILES_PATH=/home/site/wwwroot/profiles/<file>.json): commit yours next to the example.
COPY profiles ./profiles
