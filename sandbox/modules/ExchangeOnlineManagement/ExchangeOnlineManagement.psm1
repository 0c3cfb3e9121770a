<#
  STUB of Microsoft's ExchangeOnlineManagement module, for tests. Loaded by name through PSModulePath
  (test/support/exchangeStubTenant.ts prepends test/support/modules), exactly as production loads the real
  module, so the code under test cannot tell which one it got except by behaviour.

  It has the real cmdlets' names and the parameters we (and an admin's reference script) use, and behaves
  like Exchange Online where it matters for the boundary:
    - every data cmdlet refuses before Connect-ExchangeOnline;
    - Connect-ExchangeOnline checks the certificate (private key, thumbprint, expiry), AppId and Organization
      against the tenant and answers with Entra-style AADSTS errors; -ManagedIdentity is accepted when the
      tenant allows it; -CommandName limits which data cmdlets exist afterwards;
    - an unknown identity gives Exchange's "couldn't be found" error (ObjectNotFound, non-terminating);
    - an existing permission or an unchanged setting gives Exchange's warning;
    - a $null or absent -Identity on a Get-* cmdlet that allows it returns everything (as Microsoft warns);
    - -WhatIf / -Confirm work on every change (SupportsShouldProcess);
    - latency per cmdlet and scripted faults (error, hang, crash, warning, console noise) are configurable.

  The tenant is the folder this module was copied into (ExchangeStubTenant puts a copy at
  <tenant>/modules/ExchangeOnlineManagement, so PSModulePath alone selects both the module and its
  tenant; the product gives PowerShell an allow-listed environment, so no variable could carry it):
  Tenant state: a change journal, <tenant>/tenant.journal, that every write appends to, and the whole
  state at <tenant>/tenant.json, rewritten (atomically) only once the journal has grown by as much; a
  reader loads the file and catches up through the journal from the offset the file names, and the
  sessions follow one another's writes the same way (StubTenant in StubNative.cs).
  Call log: one JSON line per cmdlet call at <tenant>/calls.jsonl (certificates logged by thumbprint only).

  Recipients carry EmailAddresses as Exchange does (SMTP:primary, smtp:secondary, other proxies such as
  X500: left alone), and every recipient type the product must tell apart: user, shared, room, equipment,
  scheduling, team and discovery mailboxes, Microsoft 365 groups, distribution and mail-enabled security
  groups, mail contacts, mail users and guests. Errors carry Exchange's exception type names
  (ManagementObjectNotFoundException, MemberNotFoundException, ...) in the exception, the CategoryInfo
  reason and the FullyQualifiedErrorId ([FailureCategory=Cmdlet-<type>]), with Exchange's English message;
  callers should decide by the former, never by the message.
#>

Set-StrictMode -Version 3.0

# Exchange's exception types, by their real (short) names. Callers see them in $_.Exception, in
# $_.CategoryInfo.Reason and in the FailureCategory part of $_.FullyQualifiedErrorId.
class ManagementObjectNotFoundException : System.InvalidOperationException {
    ManagementObjectNotFoundException([string]$message) : base($message) {}
}
class ManagementObjectAmbiguousException : System.InvalidOperationException {
    ManagementObjectAmbiguousException([string]$message) : base($message) {}
}
class MemberNotFoundException : System.InvalidOperationException {
    MemberNotFoundException([string]$message) : base($message) {}
}
class MemberAlreadyExistsException : System.InvalidOperationException {
    MemberAlreadyExistsException([string]$message) : base($message) {}
}
class RecipientTaskException : System.InvalidOperationException {
    RecipientTaskException([string]$message) : base($message) {}
}
class OperationRequiresGroupManagerException : System.InvalidOperationException {
    OperationRequiresGroupManagerException([string]$message) : base($message) {}
}
class ADOperationException : System.InvalidOperationException {
    ADOperationException([string]$message) : base($message) {}
}
class TaskNotSupportedException : System.InvalidOperationException {
    TaskNotSupportedException([string]$message) : base($message) {}
}
class ServerBusyException : System.InvalidOperationException {
    ServerBusyException([string]$message) : base($message) {}
}

function Import-StubNative {
    # StubNative.cs compiled once per user and version of it: Add-Type costs a second or more of CPU,
    # and every session (process) imports this module. The cache is the user's own folder (never a
    # shared temp folder another account could plant an assembly in), else this tenant's folder.
    # Compiled to a file of its own name first and then renamed into place, so sessions starting
    # together never load a half-written assembly.
    if ($null -ne ('ExoWorkflowSync.Stub.StubNative' -as [type])) { return }
    $source = [System.IO.File]::ReadAllText([System.IO.Path]::Combine($PSScriptRoot, 'StubNative.cs'))
    $stamp = "$source`n$($PSVersionTable.PSVersion)`n$([System.Environment]::Version)"
    $hash = [System.Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData([System.Text.Encoding]::UTF8.GetBytes($stamp))).Substring(0, 16)
    $cache = [System.Environment]::GetFolderPath([System.Environment+SpecialFolder]::LocalApplicationData)
    if ([string]::IsNullOrEmpty($cache)) { $cache = $script:TenantFolder }
    $folder = [System.IO.Path]::Combine($cache, 'exo-workflow-sync', 'stub-native', $hash)
    $assembly = [System.IO.Path]::Combine($folder, 'StubNative.dll')
    if (-not [System.IO.File]::Exists($assembly)) {
        $null = [System.IO.Directory]::CreateDirectory($folder)
        $partial = [System.IO.Path]::Combine($folder, "StubNative.$PID.$([guid]::NewGuid().ToString('N')).dll")
        Add-Type -TypeDefinition $source -OutputAssembly $partial -OutputType Library
        try { [System.IO.File]::Move($partial, $assembly, $false) } catch [System.IO.IOException] { [System.IO.File]::Delete($partial) }
    }
    # Loaded as Add-Type -Path would (Assembly.LoadFrom), without the cmdlet: about 60 ms less CPU per session.
    $null = [System.Reflection.Assembly]::LoadFrom($assembly)
}
$script:ServerName = 'AM6PR04A010DC02.EURPRD04.PROD.OUTLOOK.COM'
$script:Connection = $null
# <tenant>/modules/ExchangeOnlineManagement/ -> <tenant>/
$script:TenantFolder = [System.IO.Path]::GetFullPath([System.IO.Path]::Combine($PSScriptRoot, '..', '..'))
$script:StubLogPath = [System.IO.Path]::Combine($script:TenantFolder, 'calls.jsonl')
# How stale a read may be with respect to another session's writes (see Read-StubState).
$script:ReadLagMs = 250
$script:DataCmdlets = [string[]]@(
    'Get-Mailbox', 'Set-Mailbox', 'Get-Recipient', 'Get-MailboxPermission', 'Add-MailboxPermission',
    'Get-RecipientPermission', 'Add-RecipientPermission', 'Get-DistributionGroupMember', 'Remove-DistributionGroupMember',
    'Get-MailboxStatistics', 'Get-MailboxAutoReplyConfiguration', 'Set-MailboxAutoReplyConfiguration', 'Get-CASMailbox',
    'Set-CASMailbox', 'Get-MobileDevice', 'Remove-MobileDevice', 'Get-InboxRule', 'Disable-InboxRule', 'Remove-CalendarEvents',
    'Remove-MailboxPermission', 'Remove-RecipientPermission', 'Add-DistributionGroupMember', 'Enable-InboxRule'
)
$script:MailboxTypes = [string[]]@('UserMailbox', 'SharedMailbox', 'RoomMailbox', 'EquipmentMailbox', 'LinkedMailbox', 'SchedulingMailbox', 'DiscoveryMailbox', 'TeamMailbox')
# Mail-enabled users without a mailbox here (MailUser, GuestMailUser) and contacts (MailContact).
$script:MailUserTypes = [string[]]@('MailUser', 'GuestMailUser')
$script:GroupTypes = [string[]]@('MailUniversalDistributionGroup', 'MailUniversalSecurityGroup', 'MailNonUniversalGroup', 'GroupMailbox', 'RoomList', 'DynamicDistributionGroup')
$script:StaticGroupTypes = [string[]]@('MailUniversalDistributionGroup', 'MailUniversalSecurityGroup', 'MailNonUniversalGroup', 'RoomList')
Import-StubNative
$script:Tenant = [ExoWorkflowSync.Stub.StubTenant]::new($script:TenantFolder, $script:ReadLagMs)
# Which recipients each kind of lookup sees (StubNative.IsKind): mailbox, group, principal, recipient.
[ExoWorkflowSync.Stub.StubNative]::SetRecipientTypes($script:MailboxTypes, $script:MailUserTypes)

# ---------------------------------------------------------------------------------------------------------
# Connection

function Connect-ExchangeOnline {
    [CmdletBinding()]
    param(
        [string]$ConnectionUri,
        [string]$AzureADAuthorizationEndpointUri,
        [ValidateSet('O365Default', 'O365GermanyCloud', 'O365China', 'O365USGovGCCHigh', 'O365USGovDoD')]
        [string]$ExchangeEnvironmentName = 'O365Default',
        [string]$DelegatedOrganization,
        [string]$Prefix,
        [string[]]$CommandName,
        [string[]]$FormatTypeName,
        [string]$AccessToken,
        [string]$AppId,
        [System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate,
        [string]$CertificateFilePath,
        [System.Security.SecureString]$CertificatePassword,
        [string]$CertificateThumbprint,
        [System.Management.Automation.PSCredential]$Credential,
        [switch]$Device,
        [switch]$InlineCredential,
        [string]$LogDirectoryPath,
        [switch]$ManagedIdentity,
        [string]$ManagedIdentityAccountId,
        [string]$Organization,
        [ValidateRange(1, 1000)]
        [int]$PageSize = 1000,
        [switch]$ShowBanner = $true,
        [bool]$ShowProgress = $true,
        [switch]$SkipLoadingFormatData,
        [switch]$SkipLoadingCmdletHelp,
        [switch]$LoadCmdletHelp,
        [bool]$TrackPerformance,
        [bool]$UseMultithreading = $true,
        [string]$UserPrincipalName,
        [switch]$DisableWAM,
        [string]$EXOModuleBasePath
    )
    $state = Enter-StubCmdlet -Name 'Connect-ExchangeOnline' -Bound $PSBoundParameters -Cmdlet $PSCmdlet
    $expected = $state['connection']
    if ($null -eq $expected) { $expected = @{} }
    $tenant = [string]$expected['organization']

    $auth = $null
    $thumbprint = $null
    if ($ManagedIdentity) {
        $auth = 'managedIdentity'
        $identity = $expected['managedIdentity']
        # Like the real module on App Service: the identity endpoint comes from the process environment.
        if ($null -eq $identity -or -not [bool]$identity['enabled'] -or [string]::IsNullOrEmpty($env:IDENTITY_ENDPOINT) -or [string]::IsNullOrEmpty($env:IDENTITY_HEADER)) {
            Stop-StubConnect $PSCmdlet 'ManagedIdentityCredential authentication unavailable. No Managed Identity endpoint found.'
        }
        $wantedAccount = [string]$identity['accountId']
        if ($wantedAccount.Length -gt 0 -and -not [string]::Equals($wantedAccount, $ManagedIdentityAccountId, [System.StringComparison]::OrdinalIgnoreCase)) {
            Stop-StubConnect $PSCmdlet "ManagedIdentityCredential authentication failed: Identity not found. (client id '$ManagedIdentityAccountId')"
        }
        if (-not [string]::Equals($tenant, $Organization, [System.StringComparison]::OrdinalIgnoreCase)) {
            Stop-StubConnect $PSCmdlet "AADSTS90002: Tenant '$Organization' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        }
    } elseif ($null -ne $Certificate) {
        $auth = 'certificate'
        $thumbprint = $Certificate.Thumbprint
        if ([string]::IsNullOrEmpty($Organization)) {
            Stop-StubConnect $PSCmdlet 'Please provide Organization name (for example contoso.onmicrosoft.com) with the Certificate parameter.'
        }
        if (-not [string]::Equals($tenant, $Organization, [System.StringComparison]::OrdinalIgnoreCase)) {
            Stop-StubConnect $PSCmdlet "AADSTS90002: Tenant '$Organization' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        }
        if (-not [string]::Equals([string]$expected['appId'], $AppId, [System.StringComparison]::OrdinalIgnoreCase)) {
            Stop-StubConnect $PSCmdlet "AADSTS700016: Application with identifier '$AppId' was not found in the directory '$Organization'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        }
        if (-not $Certificate.HasPrivateKey) {
            Stop-StubConnect $PSCmdlet "IDX10638: Cannot create the SignatureProvider, 'key.HasPrivateKey' is false, cannot create signatures. Key: $thumbprint."
        }
        if (-not [string]::Equals([string]$expected['thumbprint'], $thumbprint, [System.StringComparison]::OrdinalIgnoreCase)) {
            Stop-StubConnect $PSCmdlet "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '$thumbprint', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '$AppId'.]"
        }
        if ($Certificate.NotAfter -lt [datetime]::Now) {
            Stop-StubConnect $PSCmdlet "AADSTS700027: Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '$thumbprint']"
        }
        # Sign a client assertion the way MSAL would; a certificate whose key cannot sign is refused.
        try {
            $rsa = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($Certificate)
            $data = [System.Text.Encoding]::UTF8.GetBytes("client-assertion:$AppId")
            $signature = $rsa.SignData($data, [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
            $public = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPublicKey($Certificate)
            if (-not $public.VerifyData($data, $signature, [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)) {
                throw 'signature mismatch'
            }
        } catch {
            Stop-StubConnect $PSCmdlet "AADSTS700027: Client assertion contains an invalid signature. [Reason - The key could not sign the assertion., Thumbprint of key used by client: '$thumbprint']"
        }
    } elseif ($PSBoundParameters.ContainsKey('CertificateThumbprint')) {
        Stop-StubConnect $PSCmdlet 'CertificateThumbprint is supported on Windows only (the certificate is looked up in the Windows certificate store).'
    } else {
        Stop-StubConnect $PSCmdlet 'The stub supports app-only authentication only: pass -Certificate with -AppId and -Organization, or -ManagedIdentity with -Organization.'
    }

    $allowed = $null
    if ($PSBoundParameters.ContainsKey('CommandName') -and $null -ne $CommandName) {
        $allowed = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::OrdinalIgnoreCase)
        foreach ($name in $CommandName) { $null = $allowed.Add($name) }
    }
    $script:Connection = @{
        ConnectionId = [guid]::NewGuid().ToString()
        Organization = $Organization
        AppId        = $AppId
        Thumbprint   = $thumbprint
        Auth         = $auth
        CommandNames = $allowed
        Connected    = [datetime]::UtcNow
    }
    if ($ShowBanner) {
        # The real module prints a banner through the host; callers pass -ShowBanner:$false to avoid it.
        $Host.UI.WriteLine('This V3 EXO PowerShell module contains new REST API backed Exchange Online cmdlets which do not require WinRM for Client-Server communication.')
    }
}

function Disconnect-ExchangeOnline {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    param(
        [string[]]$ConnectionId,
        [string[]]$ModulePrefix
    )
    $null = Enter-StubCmdlet -Name 'Disconnect-ExchangeOnline' -Bound $PSBoundParameters -Cmdlet $PSCmdlet
    if ($null -eq $script:Connection) { return }
    if ($PSCmdlet.ShouldProcess('Exchange Online', 'Disconnect')) {
        $script:Connection = $null
    }
}

function Get-ConnectionInformation {
    [CmdletBinding()]
    param(
        [string[]]$ConnectionId,
        [string[]]$ModulePrefix
    )
    $null = Enter-StubCmdlet -Name 'Get-ConnectionInformation' -Bound $PSBoundParameters -Cmdlet $PSCmdlet
    if ($null -eq $script:Connection) { return }
    $c = $script:Connection
    [pscustomobject][ordered]@{
        ConnectionId                    = $c.ConnectionId
        State                           = 'Connected'
        Id                              = 1
        Name                            = 'ExchangeOnline_1'
        UserPrincipalName               = $null
        ConnectionUri                   = 'https://outlook.office365.com'
        AzureAdAuthorizationEndpointUri = 'https://login.microsoftonline.com/organizations'
        TokenExpiryTimeUTC              = $c.Connected.AddHours(1)
        CertificateAuthentication       = ($c.Auth -eq 'certificate')
        ModuleName                      = 'tmpEXO_stub'
        ModulePrefix                    = ''
        Organization                    = $c.Organization
        DelegatedOrganization           = ''
        AppId                           = $c.AppId
        PageSize                        = 1000
        TenantID                        = $null
        TokenStatus                     = 'Active'
        ConnectionUsedForInbuiltCmdlets = $true
        IsEopSession                    = $false
    }
}

# ---------------------------------------------------------------------------------------------------------
# Recipients

function Get-Mailbox {
    [CmdletBinding(DefaultParameterSetName = 'Identity')]
    param(
        [Parameter(ParameterSetName = 'Identity', Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [Parameter(ParameterSetName = 'AnrSet', Mandatory)]
        [string]$Anr,
        [string]$Filter,
        [string[]]$RecipientTypeDetails,
        $ResultSize,
        [switch]$Archive,
        [switch]$IncludeInactiveMailbox,
        [switch]$InactiveMailboxOnly,
        [switch]$SoftDeletedMailbox,
        [switch]$GroupMailbox,
        [switch]$PublicFolder
    )
    $state = Enter-StubCmdlet -Name 'Get-Mailbox' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    Find-StubRecipientsForGet -Cmdlet $PSCmdlet -State $state -Kind 'mailbox' -Identity $Identity -Anr $Anr -Filter $Filter -RecipientTypeDetails $RecipientTypeDetails -ResultSize $ResultSize -CmdletName 'GetMailbox'
}

function Get-Recipient {
    [CmdletBinding(DefaultParameterSetName = 'Identity')]
    param(
        [Parameter(ParameterSetName = 'Identity', Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [Parameter(ParameterSetName = 'AnrSet', Mandatory)]
        [string]$Anr,
        [string]$Filter,
        [ValidateSet('UserMailbox', 'SharedMailbox', 'RoomMailbox', 'EquipmentMailbox', 'LinkedMailbox', 'SchedulingMailbox', 'DiscoveryMailbox', 'MailUser', 'GuestMailUser', 'MailContact', 'User', 'DisabledUser', 'MailUniversalDistributionGroup', 'MailUniversalSecurityGroup', 'MailNonUniversalGroup', 'DynamicDistributionGroup', 'GroupMailbox', 'RoomList', 'PublicFolder', 'TeamMailbox')]
        [string[]]$RecipientTypeDetails,
        [string[]]$RecipientType,
        $ResultSize,
        [string[]]$Properties,
        [string]$SortBy,
        [switch]$IncludeSoftDeletedRecipients
    )
    $state = Enter-StubCmdlet -Name 'Get-Recipient' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    Find-StubRecipientsForGet -Cmdlet $PSCmdlet -State $state -Kind 'recipient' -Identity $Identity -Anr $Anr -Filter $Filter -RecipientTypeDetails $RecipientTypeDetails -ResultSize $ResultSize -CmdletName 'GetRecipient'
}

function Set-Mailbox {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [ValidateSet('Regular', 'Room', 'Equipment', 'Shared', 'Workspace', 'Desk')]
        [string]$Type,
        [bool]$HiddenFromAddressListsEnabled,
        [string]$ForwardingSmtpAddress,
        $ForwardingAddress,
        [bool]$DeliverToMailboxAndForward,
        [bool]$LitigationHoldEnabled,
        $LitigationHoldDuration,
        $GrantSendOnBehalfTo,
        [switch]$Force
    )
    # The tenant lock taken for this change is released however the cmdlet ends.
    try {
    $state = Enter-StubCmdlet -Name 'Set-Mailbox' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $mailbox = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'mailbox' -CmdletName 'SetMailbox'
    if ($null -eq $mailbox) { return }

    $changes = [System.Collections.Generic.List[object]]::new()
    if ($PSBoundParameters.ContainsKey('Type')) {
        $target = @{ Regular = 'UserMailbox'; Room = 'RoomMailbox'; Equipment = 'EquipmentMailbox'; Shared = 'SharedMailbox'; Workspace = 'WorkspaceMailbox'; Desk = 'DeskMailbox' }[$Type]
        if ($mailbox['recipientTypeDetails'] -ne $target) { $changes.Add(@('recipientTypeDetails', [string]$target)) }
    }
    foreach ($name in 'HiddenFromAddressListsEnabled', 'DeliverToMailboxAndForward', 'LitigationHoldEnabled') {
        if ($PSBoundParameters.ContainsKey($name)) {
            $key = $name.Substring(0, 1).ToLowerInvariant() + $name.Substring(1)
            $value = [bool]$PSBoundParameters[$name]
            if ($mailbox[$key] -ne $value) { $changes.Add(@($key, $value)) }
        }
    }
    if ($PSBoundParameters.ContainsKey('ForwardingSmtpAddress') -and $mailbox['forwardingSmtpAddress'] -ne $ForwardingSmtpAddress) {
        $changes.Add(@('forwardingSmtpAddress', [string]$ForwardingSmtpAddress))
    }
    # Catalogue parameters (issue 15): -ForwardingAddress, -LitigationHoldDuration, -GrantSendOnBehalfTo.
    $catalogue = Get-StubSetMailboxChanges -Cmdlet $PSCmdlet -State $state -Mailbox $mailbox -Bound $PSBoundParameters
    if ($null -eq $catalogue) { return }
    foreach ($change in $catalogue) { $changes.Add($change) }
    if ($changes.Count -eq 0) {
        $PSCmdlet.WriteWarning("The command completed successfully but no settings of '$($mailbox['name'])' have been modified.")
        return
    }
    if ($PSCmdlet.ShouldProcess([string]$mailbox['name'], 'Set-Mailbox')) {
        foreach ($change in $changes) { $mailbox[$change[0]] = $change[1] }
        Save-StubState $state
    }
    } finally { Unlock-StubState }
}

# ---------------------------------------------------------------------------------------------------------
# Permissions

function Get-MailboxPermission {
    [CmdletBinding(DefaultParameterSetName = 'AccessRights')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [Parameter(ParameterSetName = 'AccessRights')]
        $User,
        [Parameter(ParameterSetName = 'Owner', Mandatory)]
        [switch]$Owner,
        [switch]$GroupMailbox,
        [switch]$SoftDeletedMailbox,
        [switch]$IncludeSoftDeletedUserPermissions,
        [switch]$IncludeUnresolvedPermissions,
        $ResultSize
    )
    $state = Enter-StubCmdlet -Name 'Get-MailboxPermission' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $mailbox = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'mailbox' -CmdletName 'GetMailboxPermission'
    if ($null -eq $mailbox) { return }
    if ($Owner) {
        [pscustomobject][ordered]@{ Identity = $mailbox['name']; Owner = 'NAMPR01A001\Organization Management' }
        return
    }
    $userGuid = $null
    if ($PSBoundParameters.ContainsKey('User')) {
        $principal = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $User -Kind 'recipient' -CmdletName 'GetMailboxPermission'
        if ($null -eq $principal) { return }
        $userGuid = $principal['guid']
    } else {
        [pscustomobject][ordered]@{
            Identity        = $mailbox['name']
            User            = 'NT AUTHORITY\SELF'
            AccessRights    = [string[]]@('FullAccess', 'ReadPermission')
            IsInherited     = $false
            Deny            = $false
            InheritanceType = 'All'
        }
    }
    foreach ($entry in (Select-StubEntries $state 'mailboxPermissions' 'mailbox' $mailbox['guid'])) {
        if ($null -ne $userGuid -and $entry['user'] -ne $userGuid) { continue }
        [pscustomobject][ordered]@{
            Identity        = $mailbox['name']
            User            = Get-StubPrincipalLabel $state $entry['user']
            AccessRights    = [string[]]@($entry['accessRights'])
            IsInherited     = $false
            Deny            = [bool]$entry['deny']
            InheritanceType = [string]$entry['inheritanceType']
        }
    }
}

function Add-MailboxPermission {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'AccessRights')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [Parameter(Mandatory, ParameterSetName = 'AccessRights')]
        $User,
        [Parameter(Mandatory, ParameterSetName = 'AccessRights')]
        [ValidateSet('ChangeOwner', 'ChangePermission', 'DeleteItem', 'ExternalAccount', 'FullAccess', 'ReadPermission')]
        [string[]]$AccessRights,
        [Parameter(ParameterSetName = 'AccessRights')]
        [ValidateSet('None', 'All', 'Children', 'Descendents', 'SelfAndChildren')]
        [string]$InheritanceType = 'All',
        [Parameter(ParameterSetName = 'AccessRights')]
        [bool]$AutoMapping = $true,
        [Parameter(ParameterSetName = 'AccessRights')]
        [switch]$Deny,
        [Parameter(ParameterSetName = 'AccessRights')]
        [switch]$GroupMailbox,
        [Parameter(ParameterSetName = 'AccessRights')]
        [switch]$IgnoreDefaultScope,
        [Parameter(Mandatory, ParameterSetName = 'Owner')]
        $Owner
    )
    # The tenant lock taken for this change is released however the cmdlet ends.
    try {
    $state = Enter-StubCmdlet -Name 'Add-MailboxPermission' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $mailbox = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'mailbox' -CmdletName 'AddMailboxPermission'
    if ($null -eq $mailbox) { return }
    if ($PSCmdlet.ParameterSetName -eq 'Owner') {
        Write-StubError $PSCmdlet 'Changing the owner is not supported by the ExchangeOnlineManagement stub.' 'NotImplemented' $Owner 'NotImplemented'
        return
    }
    $principal = Resolve-StubPrincipal -Cmdlet $PSCmdlet -State $state -Identity $User
    if ($null -eq $principal) { return }
    foreach ($entry in (Select-StubEntries $state 'mailboxPermissions' 'mailbox' $mailbox['guid'])) {
        if ($entry['user'] -eq $principal['guid'] -and [bool]$entry['deny'] -eq [bool]$Deny) {
            $missing = @($AccessRights | Where-Object { @($entry['accessRights']) -notcontains $_ })
            if ($missing.Count -eq 0) {
                $PSCmdlet.WriteWarning("An existing permission entry was found for user: $($principal['name']).")
                return
            }
        }
    }
    if (-not $PSCmdlet.ShouldProcess([string]$mailbox['name'], "Add-MailboxPermission $($AccessRights -join ',') for $($principal['name'])")) { return }
    $entry = New-StubTable
    $entry['mailbox'] = [string]$mailbox['guid']
    $entry['user'] = [string]$principal['guid']
    $entry['accessRights'] = [System.Collections.Generic.List[object]]::new()
    foreach ($right in $AccessRights) { $entry['accessRights'].Add([string]$right) }
    $entry['inheritanceType'] = [string]$InheritanceType
    $entry['autoMapping'] = [bool]$AutoMapping
    $entry['deny'] = [bool]$Deny
    (Get-StubList $state 'mailboxPermissions' -Create).Add($entry)
    Save-StubState $state
    [pscustomobject][ordered]@{
        Identity        = $mailbox['name']
        User            = Get-StubPrincipalLabel $state $principal['guid']
        AccessRights    = [string[]]$AccessRights
        IsInherited     = $false
        Deny            = [bool]$Deny
        InheritanceType = $InheritanceType
    }
    } finally { Unlock-StubState }
}

function Get-RecipientPermission {
    [CmdletBinding()]
    param(
        [Parameter(Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        $Trustee,
        [ValidateSet('SendAs')]
        [string[]]$AccessRights,
        $ResultSize,
        [switch]$ReadFromDomainController
    )
    $state = Enter-StubCmdlet -Name 'Get-RecipientPermission' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $recipient = $null
    # No identity: every recipient's permissions, as Microsoft's docs warn for an empty variable.
    if (-not (Test-StubEmptyIdentity $Identity)) {
        $recipient = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'recipient' -CmdletName 'GetRecipientPermission'
        if ($null -eq $recipient) { return }
    }
    $trusteeGuid = $null
    if ($PSBoundParameters.ContainsKey('Trustee')) {
        $principal = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Trustee -Kind 'recipient' -CmdletName 'GetRecipientPermission'
        if ($null -eq $principal) { return }
        $trusteeGuid = $principal['guid']
    } elseif ($null -ne $recipient) {
        [pscustomobject][ordered]@{
            Identity          = $recipient['name']
            Trustee           = 'NT AUTHORITY\SELF'
            AccessControlType = 'Allow'
            AccessRights      = [string[]]@('SendAs')
            IsInherited       = $false
            InheritanceType   = 'None'
        }
    }
    $entries = if ($null -ne $recipient) { Select-StubEntries $state 'recipientPermissions' 'recipient' $recipient['guid'] } else { Get-StubList $state 'recipientPermissions' }
    foreach ($entry in $entries) {
        if ($null -ne $trusteeGuid -and $entry['trustee'] -ne $trusteeGuid) { continue }
        $owner = Find-StubByGuid $state $entry['recipient']
        [pscustomobject][ordered]@{
            Identity          = if ($null -ne $owner) { $owner['name'] } else { $entry['recipient'] }
            Trustee           = Get-StubPrincipalLabel $state $entry['trustee']
            AccessControlType = [string]$entry['accessControlType']
            AccessRights      = [string[]]@($entry['accessRights'])
            IsInherited       = $false
            InheritanceType   = 'None'
        }
    }
}

function Add-RecipientPermission {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [Parameter(Mandatory)]
        $Trustee,
        [Parameter(Mandatory)]
        [ValidateSet('SendAs')]
        [string[]]$AccessRights,
        [switch]$SkipDomainValidationForMailContact,
        [switch]$SkipDomainValidationForMailUser,
        [switch]$SkipDomainValidationForSharedMailbox
    )
    # The tenant lock taken for this change is released however the cmdlet ends.
    try {
    $state = Enter-StubCmdlet -Name 'Add-RecipientPermission' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $recipient = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'recipient' -CmdletName 'AddRecipientPermission'
    if ($null -eq $recipient) { return }
    $principal = Resolve-StubPrincipal -Cmdlet $PSCmdlet -State $state -Identity $Trustee
    if ($null -eq $principal) { return }
    foreach ($entry in (Select-StubEntries $state 'recipientPermissions' 'recipient' $recipient['guid'])) {
        if ($entry['trustee'] -eq $principal['guid'] -and $entry['accessControlType'] -eq 'Allow') {
            $PSCmdlet.WriteWarning("The appropriate access control entry is already present on object `"$($recipient['name'])`" for account `"$(Get-StubPrincipalLabel $state $principal['guid'])`".")
            return
        }
    }
    if (-not $PSCmdlet.ShouldProcess([string]$recipient['name'], "Add-RecipientPermission SendAs for $($principal['name'])")) { return }
    $entry = New-StubTable
    $entry['recipient'] = [string]$recipient['guid']
    $entry['trustee'] = [string]$principal['guid']
    $entry['accessRights'] = [System.Collections.Generic.List[object]]::new()
    $entry['accessRights'].Add('SendAs')
    $entry['accessControlType'] = 'Allow'
    (Get-StubList $state 'recipientPermissions' -Create).Add($entry)
    Save-StubState $state
    [pscustomobject][ordered]@{
        Identity          = $recipient['name']
        Trustee           = Get-StubPrincipalLabel $state $principal['guid']
        AccessControlType = 'Allow'
        AccessRights      = [string[]]@('SendAs')
        IsInherited       = $false
        InheritanceType   = 'None'
    }
    } finally { Unlock-StubState }
}

# ---------------------------------------------------------------------------------------------------------
# Group membership

function Get-DistributionGroupMember {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        $ResultSize,
        [switch]$IncludeSoftDeletedObjects
    )
    $state = Enter-StubCmdlet -Name 'Get-DistributionGroupMember' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $group = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'group' -CmdletName 'GetDistributionGroupMember'
    if ($null -eq $group) { return }
    foreach ($memberGuid in (Get-StubList $group 'members')) {
        $member = Find-StubByGuid $state $memberGuid
        if ($null -ne $member) { ConvertTo-StubRecipientObject $member }
    }
}

function Resolve-StubMembershipChange {
    # What Add- and Remove-DistributionGroupMember check first, as Exchange does: a static mail-enabled
    # group (a Microsoft 365 group has its own cmdlets), the bypass switch, and exactly one member.
    # @{ group; recipient }, or $null after the error was written.
    param($Cmdlet, $State, $Identity, $Member, [bool]$Bypass, [string]$Verb)
    $cmdletName = "$($Verb)DistributionGroupMember"
    $group = Resolve-StubSingle -Cmdlet $Cmdlet -State $State -Identity $Identity -Kind 'group' -CmdletName $cmdletName
    if ($null -eq $group) { return $null }
    $groupType = [string]$group['recipientTypeDetails']
    if ($groupType -eq 'GroupMailbox') {
        Write-StubError $Cmdlet "The group `"$($group['name'])`" is a Microsoft 365 group. Use $Verb-UnifiedGroupLinks to change its members." 'InvalidOperation' $Identity 'RecipientTaskException'
        return $null
    }
    if ($script:StaticGroupTypes -notcontains $groupType) {
        Write-StubNotFound $Cmdlet $Identity $cmdletName
        return $null
    }
    # An app-only caller is never in ManagedBy, so Exchange insists on the bypass switch for every group.
    if (-not $Bypass) {
        Write-StubError $Cmdlet "You don't have sufficient permissions. This operation can only be performed by a manager of the group." 'PermissionDenied' $Identity 'OperationRequiresGroupManagerException'
        return $null
    }
    $recipient = Resolve-StubSingle -Cmdlet $Cmdlet -State $State -Identity $Member -Kind 'recipient' -CmdletName $cmdletName
    if ($null -eq $recipient) { return $null }
    return @{ group = $group; recipient = $recipient }
}

function Remove-DistributionGroupMember {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [Parameter(Mandatory)]
        $Member,
        [switch]$BypassSecurityGroupManagerCheck
    )
    # The tenant lock taken for this change is released however the cmdlet ends.
    try {
    $state = Enter-StubCmdlet -Name 'Remove-DistributionGroupMember' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $target = Resolve-StubMembershipChange -Cmdlet $PSCmdlet -State $state -Identity $Identity -Member $Member -Bypass $BypassSecurityGroupManagerCheck -Verb 'Remove'
    if ($null -eq $target) { return }
    $group = $target.group
    $recipient = $target.recipient
    $members = Get-StubList $group 'members' -Create
    $index = -1
    for ($i = 0; $i -lt $members.Count; $i++) {
        if ([string]::Equals([string]$members[$i], [string]$recipient['guid'], [System.StringComparison]::OrdinalIgnoreCase)) { $index = $i; break }
    }
    if ($index -lt 0) {
        Write-StubError $PSCmdlet "The recipient `"$($recipient['name'])`" isn't a member of the group `"$($group['name'])`"." 'NotSpecified' $Member 'MemberNotFoundException'
        return
    }
    if ($PSCmdlet.ShouldProcess([string]$group['name'], "Remove-DistributionGroupMember $($recipient['name'])")) {
        $members.RemoveAt($index)
        $holders = $null
        if ((Get-StubIndex $state).membersOf.TryGetValue([string]$recipient['guid'], [ref]$holders)) { $null = $holders.Remove($group) }
        Save-StubState $state
    }
    } finally { Unlock-StubState }
}

# ---------------------------------------------------------------------------------------------------------
# Every call: log, state, latency, connection, faults

function Enter-StubCmdlet {
    # Every cmdlet starts here; most calls meet no fault and a connected session, so that path makes no
    # function call of its own (each costs about 60 us, and the benchmarks measure the caller, not the stub).
    param([string]$Name, [System.Collections.IDictionary]$Bound, $Cmdlet, [switch]$Data)
    [ExoWorkflowSync.Stub.StubNative]::AppendCall($script:StubLogPath, $Name, $Bound)
    $state = Read-StubState -MayLag:$Data
    [ExoWorkflowSync.Stub.StubNative]::WaitLatency($state, $Name)
    $faults = $state['faults']
    $faulty = $null -ne $faults -and @($faults).Count -gt 0
    # Several sessions (processes) share the tenant. Every write is an atomic rename, so a Get-* cmdlet
    # reads a whole state without the tenant lock (unless a fault it may hit counts down, a write);
    # a change cmdlet reads, decides and writes under the lock (the listed ones hold it until they
    # return), so none loses another's change.
    if ($Data) {
        if ($Name.StartsWith('Get-', [System.StringComparison]::Ordinal) -and -not ($faulty -and (Test-StubCountedFault $state $Name))) {
            $state = Read-StubState -MayLag
            if ($null -eq $script:Connection -or ($null -ne $script:Connection.CommandNames -and -not $script:Connection.CommandNames.Contains($Name))) {
                Test-StubConnected -Name $Name -Cmdlet $Cmdlet
            }
            if ($faulty) { Invoke-StubFaults $state $Name $Bound $Cmdlet }
            return $state
        }
        Lock-StubState
        try {
            $state = Read-StubState
            Test-StubConnected -Name $Name -Cmdlet $Cmdlet
            Invoke-StubFaults $state $Name $Bound $Cmdlet
        } catch {
            Unlock-StubState
            throw
        }
        if (-not $script:ChangeCmdlets.Contains($Name)) { Unlock-StubState }
        return $state
    }
    if (-not $faulty) { return $state }
    if (Test-StubCountedFault $state $Name) {
        # Counting the fault down is a write (e.g. a connect that fails once).
        Lock-StubState
        try {
            $state = Read-StubState
            Invoke-StubFaults $state $Name $Bound $Cmdlet
        } finally { Unlock-StubState }
        return $state
    }
    Invoke-StubFaults $state $Name $Bound $Cmdlet
    return $state
}

function Test-StubCountedFault {
    # A fault for this cmdlet that is used up after some calls: hitting it writes the state.
    param($State, [string]$Name)
    $faults = $State['faults']
    if ($null -eq $faults) { return $false }
    foreach ($fault in @($faults)) {
        if ($fault['cmdlet'] -ne $Name -and $fault['cmdlet'] -ne '*') { continue }
        $times = if ($null -eq $fault['times']) { 1 } else { [int]$fault['times'] }
        if ($times -gt 0) { return $true }
    }
    return $false
}

function Test-StubConnected {
    param([string]$Name, $Cmdlet)
    & {
        if ($null -eq $script:Connection) {
            $record = [System.Management.Automation.ErrorRecord]::new(
                [System.InvalidOperationException]::new('You must call the Connect-ExchangeOnline cmdlet before calling any other cmdlets.'),
                'NotConnected', [System.Management.Automation.ErrorCategory]::InvalidOperation, $null)
            $Cmdlet.ThrowTerminatingError($record)
        }
        $allowed = $script:Connection.CommandNames
        if ($null -ne $allowed -and -not $allowed.Contains($Name)) {
            # With -CommandName the real module only builds these cmdlets; anything else does not exist.
            $exception = [System.Management.Automation.CommandNotFoundException]::new("The term '$Name' is not recognized as a name of a cmdlet, function, script file, or executable program.`nCheck the spelling of the name, or if a path was included, verify that the path is correct and try again.")
            $record = [System.Management.Automation.ErrorRecord]::new($exception, 'CommandNotFoundException', [System.Management.Automation.ErrorCategory]::ObjectNotFound, $Name)
            $Cmdlet.ThrowTerminatingError($record)
        }
    }
}

# ---------------------------------------------------------------------------------------------------------
# Tenant lock (issue 14: several sessions at once) and injected throttling

# Every cmdlet that writes the tenant holds its lock from its read to its return (each releases it in a
# finally), so no session loses another's change and the change journal is one chain.
$script:ChangeCmdlets = [System.Collections.Generic.HashSet[string]]::new([string[]]@(
        'Set-Mailbox', 'Add-MailboxPermission', 'Add-RecipientPermission', 'Remove-DistributionGroupMember', 'Remove-MailboxPermission',
        'Remove-RecipientPermission', 'Add-DistributionGroupMember', 'Set-MailboxAutoReplyConfiguration', 'Set-CASMailbox',
        'Remove-MobileDevice', 'Disable-InboxRule', 'Enable-InboxRule', 'Remove-CalendarEvents'), [System.StringComparer]::Ordinal)
$script:LockStream = $null

function Lock-StubState {
    # An exclusive open of <tenant>/tenant.lock; the OS drops it with the process (a killed session).
    if ($null -ne $script:LockStream) { return }
    $path = [System.IO.Path]::Combine($script:TenantFolder, 'tenant.lock')
    $script:LockStream = [ExoWorkflowSync.Stub.StubNative]::OpenExclusive($path, [System.IO.FileMode]::OpenOrCreate, [System.IO.FileAccess]::ReadWrite, 60000)
    if ($null -eq $script:LockStream) { throw "The ExchangeOnlineManagement stub could not lock '$path' within 60 s." }
}

function Unlock-StubState {
    if ($null -eq $script:LockStream) { return }
    $script:LockStream.Dispose()
    $script:LockStream = $null
}

function Write-StubThrottled {
    # Fault mode 'throttle': Exchange Online's answer to a caller over budget, with its Retry-After.
    param($Fault, [string]$Name, $Cmdlet)
    $seconds = if ($null -eq $Fault['retryAfterSeconds']) { 1 } else { [double]$Fault['retryAfterSeconds'] }
    $shown = $seconds.ToString([System.Globalization.CultureInfo]::InvariantCulture)
    $message = [string]$Fault['message']
    if ($message.Length -eq 0) { $message = "The server is busy: this request was throttled (TooManyRequests). Retry-After: $shown seconds." }
    $record = New-StubErrorRecord -ExceptionType 'ServerBusyException' -Message $message -Category 'LimitsExceeded' -Target $null -CmdletName $Name.Replace('-', '')
    $Cmdlet.ThrowTerminatingError($record)
}

function Invoke-StubFaults {
    # faults: [{ cmdlet, identity?, mode: error|nonTerminating|hang|crash|warning|noise, times? (default 1,
    #            -1 = always), message?, seconds?, exitCode?, category?, exception? (an Exchange exception
    #            type name: the error then has Exchange's shape) }]
    param($State, [string]$Name, [System.Collections.IDictionary]$Bound, $Cmdlet)
    $faults = $State['faults']
    if ($null -eq $faults) { return }
    foreach ($fault in @($faults)) {
        if ($fault['cmdlet'] -ne $Name -and $fault['cmdlet'] -ne '*') { continue }
        $times = if ($null -eq $fault['times']) { 1 } else { [int]$fault['times'] }
        if ($times -eq 0) { continue }
        $identity = [string]$fault['identity']
        if ($identity.Length -gt 0) {
            $hit = $false
            foreach ($value in $Bound.Values) {
                if ([string]::Equals([string]$value, $identity, [System.StringComparison]::OrdinalIgnoreCase)) { $hit = $true; break }
            }
            if (-not $hit) { continue }
        }
        if ($times -gt 0) {
            $fault['times'] = $times - 1
            Save-StubState $State
        }
        $message = [string]$fault['message']
        switch ([string]$fault['mode']) {
            'hang' {
                $seconds = if ($null -eq $fault['seconds']) { 3600 } else { [double]$fault['seconds'] }
                $held = $null -ne $script:LockStream
                Unlock-StubState
                [System.Threading.Thread]::Sleep([int]($seconds * 1000))
                if ($held) { Lock-StubState }
            }
            'throttle' { Write-StubThrottled $fault $Name $Cmdlet }
            'crash' {
                $code = if ($null -eq $fault['exitCode']) { 134 } else { [int]$fault['exitCode'] }
                [System.Environment]::Exit($code)
            }
            'warning' {
                if ($message.Length -eq 0) { $message = 'Micro delay applied. Actual delayed: 2 msecs, Enforced: True, Capacity: 50, Current: 0.' }
                $Cmdlet.WriteWarning($message)
            }
            'noise' {
                # A module writing straight to the console, around PowerShell's streams.
                if ($message.Length -eq 0) { $message = 'stray console output' }
                [Console]::Out.WriteLine($message)
            }
            default {
                if ($message.Length -eq 0) { $message = 'Active Directory operation failed on AM6PR04A010DC02.' }
                $record = $null
                if ($null -ne $fault['exception']) {
                    # Exchange's shape: its exception type, category and FailureCategory id.
                    $record = New-StubErrorRecord -ExceptionType ([string]$fault['exception']) -Message $message -Category ([string]$fault['category']) -Target $null -CmdletName $Name.Replace('-', '')
                } else {
                    $category = [System.Management.Automation.ErrorCategory]::NotSpecified
                    if ($null -ne $fault['category']) { $category = [System.Management.Automation.ErrorCategory]([string]$fault['category']) }
                    $record = [System.Management.Automation.ErrorRecord]::new([System.InvalidOperationException]::new($message), 'StubFault', $category, $null)
                }
                if ([string]$fault['mode'] -eq 'nonTerminating') { $Cmdlet.WriteError($record); return }
                $Cmdlet.ThrowTerminatingError($record)
            }
        }
    }
}

# ---------------------------------------------------------------------------------------------------------
# State: JSON file, re-read when it changes, written atomically

function Read-StubState {
    # -MayLag (reads only): Exchange Online is only eventually consistent between sessions, and so is
    # the stub: a read may use this session's copy as it was less than $script:ReadLagMs ago. A change
    # always reads the latest state, under the tenant lock, and whatever the test's hand changes
    # (ExchangeStubTenant writes tenant.edited with the state) is seen by the next call. Other
    # sessions' writes are followed through the tenant's change journal (StubTenant in StubNative.cs).
    param([switch]$MayLag)
    try {
        return $script:Tenant.Read([bool]$MayLag)
    } catch [System.Management.Automation.MethodInvocationException] {
        # The reason alone (a disposed tenant's missing file), not PowerShell's 'Exception calling "Read"'.
        throw $_.Exception.InnerException.Message
    }
}

function Save-StubState {
    # Under the tenant lock: every change cmdlet holds it from its read to its return.
    param($State)
    $script:Tenant.Save($State)
}

function Select-StubEntries {
    # The entries of a state list whose Key equals Value (case-insensitive, as -eq): a permission
    # lookup is by mailbox in Exchange, not a walk over every grant in the tenant in PowerShell.
    param($State, [string]$List, [string]$Key, [string]$Value)
    return , [ExoWorkflowSync.Stub.StubNative]::Where((Get-StubList $State $List), $Key, $Value)
}

function New-StubTable {
    return , [System.Collections.Hashtable]::new([System.StringComparer]::Ordinal)
}

function Get-StubList {
    # Always the list itself (a fresh empty one when absent): callers iterate it directly, never through
    # @(...), which would wrap the list in a one-element array.
    param($Table, [string]$Key, [switch]$Create)
    $list = $Table[$Key]
    if ($null -eq $list) {
        $list = [System.Collections.Generic.List[object]]::new()
        if ($Create) { $Table[$Key] = $list }
    }
    return , $list
}

function Get-StubIndex {
    # Exchange looks recipients up by index, not by scanning the tenant; so does the stub, so that a
    # benchmark over 1,000 groups measures the caller rather than the stub. Built once per copy of the
    # state (StubNative.cs: byGuid, byValue, all, membersOf) and kept in step with the journal.
    param($State)
    $tenant = $script:Tenant
    if ([object]::ReferenceEquals($tenant.State, $State)) {
        if ($null -eq $tenant.Index) { $tenant.Index = [ExoWorkflowSync.Stub.StubNative]::BuildIndex($State) }
        return $tenant.Index
    }
    return [ExoWorkflowSync.Stub.StubNative]::BuildIndex($State)
}

function Get-StubGroupsHolding {
    param($State, [string]$Dn)
    $index = Get-StubIndex $State
    # A loop, not Where-Object: every membership query comes here, and a pipeline costs several times more.
    $member = @(foreach ($entry in (Find-StubMatches -State $State -Identity $Dn -Kind 'recipient')) {
            if ([string]::Equals([string]$entry['dn'], $Dn, [System.StringComparison]::OrdinalIgnoreCase)) { $entry }
        })
    if ($member.Count -eq 0) { return }
    $holders = $null
    if ($index.membersOf.TryGetValue([string]$member[0]['guid'], [ref]$holders)) {
        foreach ($group in $holders) { $group }
    }
}

function Find-StubByGuid {
    param($State, $Guid)
    $entry = $null
    if ((Get-StubIndex $State).byGuid.TryGetValue([string]$Guid, [ref]$entry)) { return $entry }
    return $null
}

function Test-StubEmptyIdentity {
    param($Identity)
    return ($null -eq $Identity -or ($Identity -is [string] -and $Identity.Length -eq 0))
}

function Get-StubProxyAddresses {
    # EmailAddresses as Exchange shows them: 'SMTP:' the primary, 'smtp:' each secondary, other proxy
    # types (X500:, SIP:) as stored. The state may hold full proxies or bare secondary addresses.
    param($Entry)
    $proxies = [System.Collections.Generic.List[string]]::new()
    $primary = [string]$Entry['primarySmtpAddress']
    if ($primary.Length -gt 0) { $proxies.Add("SMTP:$primary") }
    foreach ($raw in (Get-StubList $Entry 'emailAddresses')) {
        if ($null -eq $raw) { continue }
        $text = [string]$raw
        if ($text.Length -eq 0) { continue }
        if ($text -cmatch '^SMTP:') {
            # The primary is PrimarySmtpAddress; a stored 'SMTP:' entry is the same address.
            if (-not [string]::Equals($text.Substring(5), $primary, [System.StringComparison]::OrdinalIgnoreCase)) { $proxies.Add('smtp:' + $text.Substring(5)) }
            continue
        }
        if ($text -match '^[A-Za-z0-9]+:') {
            if ($text -match '^(?i:smtp:)') { $proxies.Add('smtp:' + $text.Substring(5)) } else { $proxies.Add($text) }
            continue
        }
        $proxies.Add("smtp:$text")
    }
    return , $proxies
}

function Find-StubMatches {
    # Exchange resolves -Identity against Guid, DN, addresses, UPN, alias and name; Get-* cmdlets also
    # accept '*' wildcards.
    param($State, $Identity, [string]$Kind, [switch]$AllowWildcard)
    $index = Get-StubIndex $State
    $text = [string]$Identity
    if ($AllowWildcard -and $text.Contains('*')) {
        $pattern = '\A' + ([regex]::Escape($text) -replace '\\\*', '.*') + '\z'
        foreach ($item in $index.all) {
            if (-not [ExoWorkflowSync.Stub.StubNative]::IsKind($item, $Kind)) { continue }
            foreach ($value in $item.names) {
                if ([regex]::IsMatch($value, $pattern, [System.Text.RegularExpressions.RegexOptions]::IgnoreCase)) { $item.entry; break }
            }
        }
        return
    }
    $list = $null
    if (-not $index.byValue.TryGetValue($text, [ref]$list)) { return }
    foreach ($item in $list) {
        if ([ExoWorkflowSync.Stub.StubNative]::IsKind($item, $Kind)) { $item.entry }
    }
}

function Resolve-StubSingle {
    param($Cmdlet, $State, $Identity, [string]$Kind, [string]$CmdletName)
    $found = @(Find-StubMatches -State $State -Identity $Identity -Kind $Kind)
    if ($found.Count -eq 0) {
        Write-StubNotFound $Cmdlet $Identity $CmdletName
        return $null
    }
    if ($found.Count -gt 1) {
        Write-StubError $Cmdlet "The operation couldn't be performed because '$Identity' matches multiple entries." 'InvalidArgument' $Identity 'ManagementObjectAmbiguousException'
        return $null
    }
    return $found[0]
}

function Resolve-StubPrincipal {
    # Permissions are granted to security principals: mailboxes, mail users and mail-enabled security groups.
    param($Cmdlet, $State, $Identity)
    $found = @(Find-StubMatches -State $State -Identity $Identity -Kind 'principal')
    if ($found.Count -eq 1) { return $found[0] }
    if ($found.Count -gt 1) {
        Write-StubError $Cmdlet "The operation couldn't be performed because '$Identity' matches multiple entries." 'InvalidArgument' $Identity 'ManagementObjectAmbiguousException'
        return $null
    }
    Write-StubError $Cmdlet "User or group `"$Identity`" wasn't found. Please make sure you've typed it correctly." 'ObjectNotFound' $Identity 'ManagementObjectNotFoundException'
    return $null
}

function Find-StubRecipientsForGet {
    param($Cmdlet, $State, [string]$Kind, $Identity, [string]$Anr, [string]$Filter, [string[]]$RecipientTypeDetails, $ResultSize, [string]$CmdletName)
    $index = Get-StubIndex $State
    $selected = $null
    $tree = $null
    $filtered = $false
    if ($Cmdlet.ParameterSetName -eq 'AnrSet') {
        $selected = foreach ($item in $index.all) {
            if (-not [ExoWorkflowSync.Stub.StubNative]::IsKind($item, $Kind)) { continue }
            foreach ($key in 'name', 'alias', 'displayName', 'primarySmtpAddress') {
                if (([string]$item.entry[$key]).StartsWith($Anr, [System.StringComparison]::OrdinalIgnoreCase)) { $item.entry; break }
            }
        }
    } elseif (-not (Test-StubEmptyIdentity $Identity)) {
        $selected = @(Find-StubMatches -State $State -Identity $Identity -Kind $Kind -AllowWildcard)
        if ($selected.Count -eq 0) {
            Write-StubNotFound $Cmdlet $Identity $CmdletName
            return
        }
    } else {
        # No identity at all ($null or ''): everything, as Microsoft's docs warn.
        if (-not [string]::IsNullOrEmpty($Filter)) { $tree = ConvertFrom-StubFilter -Cmdlet $Cmdlet -Filter $Filter }
        if ($null -ne $tree -and $tree.kind -eq 'compare' -and $tree.property -eq 'Members' -and $tree.operator -eq '-eq') {
            # Answered from the membership link, as Exchange does, not by testing every group: what it
            # finds meets the filter (only the type still narrows it).
            $selected = @(Get-StubGroupsHolding -State $State -Dn ([string]$tree.value))
            $filtered = $true
        } else {
            $selected = foreach ($item in $index.all) { if ([ExoWorkflowSync.Stub.StubNative]::IsKind($item, $Kind)) { $item.entry } }
        }
    }
    $selected = @($selected)
    if ($null -ne $RecipientTypeDetails -and $RecipientTypeDetails.Count -gt 0) {
        $selected = @(foreach ($entry in $selected) { if ($RecipientTypeDetails -contains $entry['recipientTypeDetails']) { $entry } })
    }
    if (-not [string]::IsNullOrEmpty($Filter) -and -not $filtered) {
        if ($null -eq $tree) { $tree = ConvertFrom-StubFilter -Cmdlet $Cmdlet -Filter $Filter }
        $selected = @(foreach ($entry in $selected) { if (Test-StubFilter -State $State -Entry $entry -Node $tree) { $entry } })
    }
    $limit = 1000
    $explicit = $false
    if ($null -ne $ResultSize) {
        $explicit = $true
        if ([string]::Equals([string]$ResultSize, 'Unlimited', [System.StringComparison]::OrdinalIgnoreCase)) { $limit = [int]::MaxValue } else { $limit = [int]$ResultSize }
    }
    $count = 0
    foreach ($entry in $selected) {
        if ($count -ge $limit) {
            if (-not $explicit) {
                $Cmdlet.WriteWarning('There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter.')
            }
            break
        }
        ConvertTo-StubRecipientObject $entry
        $count++
    }
}

function ConvertFrom-StubFilter {
    # A small OPATH parser: Property -eq|-ne|-like|-notlike 'value' (or "value"), -and, -or, -not, ( ).
    # Inside single quotes a quote is written twice; anything else is a syntax error, as in Exchange.
    param($Cmdlet, [string]$Filter)
    $tokens = [System.Collections.Generic.List[object]]::new()
    $regex = [regex]'\G\s*(?:(?<lp>\()|(?<rp>\))|(?<op>-(?:eq|ne|like|notlike|and|or|not))(?![A-Za-z])|''(?<sq>(?:[^'']|'''')*)''|"(?<dq>(?:[^"]|"")*)"|(?<word>\$?[A-Za-z][A-Za-z0-9_.]*))'
    $position = 0
    while ($true) {
        while ($position -lt $Filter.Length -and [char]::IsWhiteSpace($Filter[$position])) { $position++ }
        if ($position -ge $Filter.Length) { break }
        $match = $regex.Match($Filter, $position)
        if (-not $match.Success -or $match.Length -eq 0) { Stop-StubFilter $Cmdlet $Filter $position }
        $start = $position
        $position = $match.Index + $match.Length
        if ($match.Groups['lp'].Success) { $tokens.Add(@{ kind = '('; at = $start }) }
        elseif ($match.Groups['rp'].Success) { $tokens.Add(@{ kind = ')'; at = $start }) }
        elseif ($match.Groups['op'].Success) { $tokens.Add(@{ kind = 'op'; value = $match.Groups['op'].Value.ToLowerInvariant(); at = $start }) }
        elseif ($match.Groups['sq'].Success) { $tokens.Add(@{ kind = 'value'; value = $match.Groups['sq'].Value.Replace("''", "'"); at = $start }) }
        elseif ($match.Groups['dq'].Success) { $tokens.Add(@{ kind = 'value'; value = $match.Groups['dq'].Value.Replace('""', '"'); at = $start }) }
        else { $tokens.Add(@{ kind = 'word'; value = $match.Groups['word'].Value; at = $start }) }
    }
    $cursor = @{ i = 0; tokens = $tokens; filter = $Filter; cmdlet = $Cmdlet }
    $tree = Read-StubFilterOr $cursor
    if ($cursor.i -lt $tokens.Count) { Stop-StubFilter $Cmdlet $Filter $tokens[$cursor.i].at }
    return $tree
}

function Read-StubFilterOr {
    param($Cursor)
    $left = Read-StubFilterAnd $Cursor
    while ($Cursor.i -lt $Cursor.tokens.Count -and $Cursor.tokens[$Cursor.i].kind -eq 'op' -and $Cursor.tokens[$Cursor.i].value -eq '-or') {
        $Cursor.i++
        $left = @{ kind = 'or'; left = $left; right = (Read-StubFilterAnd $Cursor) }
    }
    return $left
}

function Read-StubFilterAnd {
    param($Cursor)
    $left = Read-StubFilterUnary $Cursor
    while ($Cursor.i -lt $Cursor.tokens.Count -and $Cursor.tokens[$Cursor.i].kind -eq 'op' -and $Cursor.tokens[$Cursor.i].value -eq '-and') {
        $Cursor.i++
        $left = @{ kind = 'and'; left = $left; right = (Read-StubFilterUnary $Cursor) }
    }
    return $left
}

function Read-StubFilterUnary {
    param($Cursor)
    $tokens = $Cursor.tokens
    $end = $Cursor.filter.Length
    if ($Cursor.i -ge $tokens.Count) { Stop-StubFilter $Cursor.cmdlet $Cursor.filter $end }
    $token = $tokens[$Cursor.i]
    if ($token.kind -eq 'op' -and $token.value -eq '-not') {
        $Cursor.i++
        return @{ kind = 'not'; operand = (Read-StubFilterUnary $Cursor) }
    }
    if ($token.kind -eq '(') {
        $Cursor.i++
        $inner = Read-StubFilterOr $Cursor
        if ($Cursor.i -ge $tokens.Count -or $tokens[$Cursor.i].kind -ne ')') {
            $at = if ($Cursor.i -lt $tokens.Count) { $tokens[$Cursor.i].at } else { $end }
            Stop-StubFilter $Cursor.cmdlet $Cursor.filter $at
        }
        $Cursor.i++
        return $inner
    }
    if ($token.kind -ne 'word' -or $token.value.StartsWith('$')) { Stop-StubFilter $Cursor.cmdlet $Cursor.filter $token.at }
    $Cursor.i++
    if ($Cursor.i -ge $tokens.Count) { Stop-StubFilter $Cursor.cmdlet $Cursor.filter $end }
    $operator = $tokens[$Cursor.i]
    if ($operator.kind -ne 'op' -or @('-eq', '-ne', '-like', '-notlike') -notcontains $operator.value) { Stop-StubFilter $Cursor.cmdlet $Cursor.filter $operator.at }
    $Cursor.i++
    if ($Cursor.i -ge $tokens.Count) { Stop-StubFilter $Cursor.cmdlet $Cursor.filter $end }
    $operand = $tokens[$Cursor.i]
    if ($operand.kind -ne 'value' -and $operand.kind -ne 'word') { Stop-StubFilter $Cursor.cmdlet $Cursor.filter $operand.at }
    $Cursor.i++
    $value = $operand.value
    if ($operand.kind -eq 'word') {
        if ($value -eq '$null') { $value = $null } elseif ($value -eq '$true') { $value = 'True' } elseif ($value -eq '$false') { $value = 'False' }
    }
    return @{ kind = 'compare'; property = $token.value; operator = $operator.value; value = $value }
}

function Stop-StubFilter {
    param($Cmdlet, [string]$Filter, [int]$Position)
    $message = "Cannot bind parameter 'Filter' to the target. Exception setting `"Filter`": `"Invalid filter syntax. For a description of the filter parameter syntax see the command help.`n`"$Filter`" at position $($Position + 1).`""
    $record = [System.Management.Automation.ErrorRecord]::new([System.ArgumentException]::new($message), 'ParameterBindingFailed', [System.Management.Automation.ErrorCategory]::InvalidArgument, $Filter)
    $Cmdlet.ThrowTerminatingError($record)
}

function Test-StubFilter {
    param($State, $Entry, $Node)
    switch ($Node.kind) {
        'and' { return (Test-StubFilter $State $Entry $Node.left) -and (Test-StubFilter $State $Entry $Node.right) }
        'or' { return (Test-StubFilter $State $Entry $Node.left) -or (Test-StubFilter $State $Entry $Node.right) }
        'not' { return -not (Test-StubFilter $State $Entry $Node.operand) }
    }
    if ($Node.property -eq 'Members' -and ($Node.operator -eq '-eq' -or $Node.operator -eq '-ne')) {
        # Members is a DN-valued link: resolve the DN once, then test each group's member list.
        if (-not $Node.ContainsKey('memberGuid')) {
            $member = @(Find-StubMatches -State $State -Identity $Node.value -Kind 'recipient' | Where-Object { [string]::Equals([string]$_['dn'], [string]$Node.value, [System.StringComparison]::OrdinalIgnoreCase) })
            $Node.memberGuid = if ($member.Count -gt 0) { [string]$member[0]['guid'] } else { '' }
        }
        $isMember = $false
        if ($Node.memberGuid.Length -gt 0) {
            foreach ($guid in (Get-StubList $Entry 'members')) {
                if ([string]::Equals([string]$guid, $Node.memberGuid, [System.StringComparison]::OrdinalIgnoreCase)) { $isMember = $true; break }
            }
        }
        if ($Node.operator -eq '-ne') { return -not $isMember }
        return $isMember
    }
    $values = @(Get-StubFilterValues $State $Entry $Node.property)
    $wanted = $Node.value
    $hit = $false
    foreach ($value in $values) {
        if ($Node.operator -eq '-like' -or $Node.operator -eq '-notlike') {
            $pattern = '\A' + ([regex]::Escape([string]$wanted) -replace '\\\*', '.*') + '\z'
            if ([regex]::IsMatch([string]$value, $pattern, [System.Text.RegularExpressions.RegexOptions]::IgnoreCase)) { $hit = $true; break }
        } elseif ([string]::Equals([string]$value, [string]$wanted, [System.StringComparison]::OrdinalIgnoreCase)) {
            $hit = $true; break
        }
    }
    if ($null -eq $wanted -and $values.Count -eq 0) { $hit = $true }
    if ($Node.operator -eq '-ne' -or $Node.operator -eq '-notlike') { return -not $hit }
    return $hit
}

function Get-StubFilterValues {
    param($State, $Entry, [string]$Property)
    switch ($Property) {
        'Members' {
            foreach ($memberGuid in (Get-StubList $Entry 'members')) {
                $member = Find-StubByGuid $State $memberGuid
                if ($null -ne $member) { [string]$member['dn'] }
            }
            return
        }
        'EmailAddresses' {
            foreach ($proxy in (Get-StubProxyAddresses $Entry)) { $proxy }
            return
        }
        'DistinguishedName' { return [string]$Entry['dn'] }
    }
    $key = $Property.Substring(0, 1).ToLowerInvariant() + $Property.Substring(1)
    foreach ($value in @($Entry[$key])) { if ($null -ne $value) { [string]$value } }
}

function ConvertTo-StubRecipientObject {
    param($Entry)
    $type = [string]$Entry['recipientTypeDetails']
    $recipientType = $type
    if ($script:MailboxTypes -contains $type) { $recipientType = 'UserMailbox' }
    if ($script:MailUserTypes -contains $type) { $recipientType = 'MailUser' }
    if ($type -eq 'GroupMailbox') { $recipientType = 'MailUniversalDistributionGroup' }
    $addresses = Get-StubProxyAddresses $Entry
    $object = [ordered]@{
        Name                 = [string]$Entry['name']
        Alias                = [string]$Entry['alias']
        DisplayName          = [string]$Entry['displayName']
        PrimarySmtpAddress   = [string]$Entry['primarySmtpAddress']
        EmailAddresses       = $addresses.ToArray()
        RecipientType        = $recipientType
        RecipientTypeDetails = $type
        Guid                 = [string]$Entry['guid']
        DistinguishedName    = [string]$Entry['dn']
        Identity             = [string]$Entry['name']
    }
    if ($script:MailUserTypes -contains $type) {
        $object.UserPrincipalName = [string]$Entry['userPrincipalName']
        $object.WindowsEmailAddress = [string]$Entry['primarySmtpAddress']
        $object.ExternalDirectoryObjectId = [string]$Entry['externalDirectoryObjectId']
    }
    if ($script:MailboxTypes -contains $type) {
        $object.ExchangeGuid = [string]$Entry['exchangeGuid']
        $object.UserPrincipalName = [string]$Entry['userPrincipalName']
        $object.WindowsEmailAddress = [string]$Entry['primarySmtpAddress']
        $object.ExternalDirectoryObjectId = [string]$Entry['externalDirectoryObjectId']
        $object.HiddenFromAddressListsEnabled = [bool]$Entry['hiddenFromAddressListsEnabled']
        Add-StubMailboxProperties -Object $object -Entry $Entry
    }
    return [pscustomobject]$object
}

function Get-StubPrincipalLabel {
    # Permission entries show the principal by UPN/SMTP address, as Exchange Online does.
    param($State, $Guid)
    $entry = Find-StubByGuid $State $Guid
    if ($null -eq $entry) { return [string]$Guid }
    $upn = [string]$entry['userPrincipalName']
    if ($upn.Length -gt 0) { return $upn }
    return [string]$entry['primarySmtpAddress']
}

# ---------------------------------------------------------------------------------------------------------
# Errors as Exchange writes them

function Write-StubNotFound {
    param($Cmdlet, $Identity, [string]$CmdletName)
    $message = "The operation couldn't be performed because object '$Identity' couldn't be found on '$($script:ServerName)'."
    $record = New-StubErrorRecord -ExceptionType 'ManagementObjectNotFoundException' -Message $message -Category 'ObjectNotFound' -Target $Identity -CmdletName $CmdletName
    $Cmdlet.WriteError($record)
}

function Write-StubError {
    # $ErrorId: Exchange's exception type name (ManagementObjectAmbiguousException, MemberNotFoundException, ...).
    param($Cmdlet, [string]$Message, [string]$Category, $Target, [string]$ErrorId)
    $cmdletName = ([string]$Cmdlet.MyInvocation.MyCommand.Name).Replace('-', '')
    $record = New-StubErrorRecord -ExceptionType $ErrorId -Message $Message -Category $Category -Target $Target -CmdletName $cmdletName
    $Cmdlet.WriteError($record)
}

function New-StubException {
    param([string]$Type, [string]$Message)
    switch ($Type) {
        'ManagementObjectNotFoundException' { return [ManagementObjectNotFoundException]::new($Message) }
        'ManagementObjectAmbiguousException' { return [ManagementObjectAmbiguousException]::new($Message) }
        'MemberNotFoundException' { return [MemberNotFoundException]::new($Message) }
        'MemberAlreadyExistsException' { return [MemberAlreadyExistsException]::new($Message) }
        'RecipientTaskException' { return [RecipientTaskException]::new($Message) }
        'OperationRequiresGroupManagerException' { return [OperationRequiresGroupManagerException]::new($Message) }
        'ADOperationException' { return [ADOperationException]::new($Message) }
        'TaskNotSupportedException' { return [TaskNotSupportedException]::new($Message) }
        'UnauthorizedAccessException' { return [System.UnauthorizedAccessException]::new($Message) }
        'TimeoutException' { return [System.TimeoutException]::new($Message) }
        'ServerBusyException' { return [ServerBusyException]::new($Message) }
    }
    return [System.InvalidOperationException]::new($Message)
}

function New-StubErrorRecord {
    # As Exchange Online's REST cmdlets report errors: the exception of Exchange's type, the English
    # message, and the FullyQualifiedErrorId naming the failure category and the server-side task.
    param([string]$ExceptionType, [string]$Message, [string]$Category, $Target, [string]$CmdletName)
    $exception = New-StubException $ExceptionType $Message
    $errorId = "[Server=AM6PR04MB4000,RequestId=$([guid]::NewGuid()),TimeStamp=$([datetime]::UtcNow.ToString('r'))] [FailureCategory=Cmdlet-$ExceptionType] 8A2F5E1C,Microsoft.Exchange.Management.RecipientTasks.$CmdletName"
    $categoryValue = [System.Management.Automation.ErrorCategory]::NotSpecified
    if ($Category.Length -gt 0) { $categoryValue = [System.Management.Automation.ErrorCategory]$Category }
    return [System.Management.Automation.ErrorRecord]::new($exception, $errorId, $categoryValue, $Target)
}

function Stop-StubConnect {
    param($Cmdlet, [string]$Message)
    $record = [System.Management.Automation.ErrorRecord]::new([System.UnauthorizedAccessException]::new($Message), 'ConnectFailed', [System.Management.Automation.ErrorCategory]::AuthenticationError, $null)
    $Cmdlet.ThrowTerminatingError($record)
}

# The offboarding catalogue's cmdlets (issue 15) and their Set-Mailbox / Get-Mailbox parts.
. ([System.IO.Path]::Combine($PSScriptRoot, 'StubCatalogue.ps1'))
. ([System.IO.Path]::Combine($PSScriptRoot, 'StubMailboxCatalogue.ps1'))
. ([System.IO.Path]::Combine($PSScriptRoot, 'StubUndo.ps1'))

Export-ModuleMember -Function Remove-MailboxPermission, Remove-RecipientPermission, Add-DistributionGroupMember, Enable-InboxRule
Export-ModuleMember -Function Get-MailboxStatistics, Get-MailboxAutoReplyConfiguration, Set-MailboxAutoReplyConfiguration, Get-CASMailbox, Set-CASMailbox, Get-MobileDevice, Remove-MobileDevice, Get-InboxRule, Disable-InboxRule, Remove-CalendarEvents
Export-ModuleMember -Function Connect-ExchangeOnline, Disconnect-ExchangeOnline, Get-ConnectionInformation, Get-Mailbox, Set-Mailbox, Get-Recipient, Get-MailboxPermission, Add-MailboxPermission, Get-RecipientPermission, Add-RecipientPermission, Get-DistributionGroupMember, Remove-DistributionGroupMember
