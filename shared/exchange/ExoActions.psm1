#Requires -Version 7.2
<#
  ExoActions: every line of PowerShell the product runs against Exchange Online.

  Node (shared/exchange/powerShellExchangeShell.ts) imports this module into one long-lived PowerShell
  process and then only ever sends constant command lines:

      Connect-ExoSession      (followed by one data line: '#' + base64 JSON, read from stdin here)
      Invoke-ExoRunPlan       (the same)
      Disconnect-ExoSession
      Get-ExoStatus / Get-ExoProbe

  Data never becomes command text: not code (it is never parsed), and not what transcription or script
  block logging record (so the certificate in the connect payload never reaches a transcript). Each
  exported function writes exactly one line of compact JSON to stdout and nothing else: warnings are
  captured into the result, errors come back as {"ok":false,"error":{"code","message"}}.

  Exchange cmdlets are called through variables holding their names: the names resolve to whichever
  ExchangeOnlineManagement PSModulePath loaded (Microsoft's in production, our stub in tests).

  Run data is hostile (a leaver's name and addresses come from another system). Defences here do not rely
  on the caller's validation:
    - addresses must match the same rule as the planner before anything reaches Exchange;
    - a lookup must resolve to exactly one recipient that really carries the address;
    - every change targets the resolved object's immutable Guid, never the input string;
    - the only value placed in an OPATH filter is the DistinguishedName Exchange returned, quoted by
      doubling single quotes.
#>

Set-StrictMode -Version 3.0

$script:ExchangeModuleName = 'ExchangeOnlineManagement'
$script:ConnectCommand = 'Connect-ExchangeOnline'
$script:DisconnectCommand = 'Disconnect-ExchangeOnline'

# The only Exchange cmdlets this module calls; Connect-ExchangeOnline -CommandName loads just these.
$script:ExchangeCmdlets = [string[]]@(
    'Get-Mailbox',
    'Set-Mailbox',
    'Get-Recipient',
    'Get-MailboxPermission',
    'Add-MailboxPermission',
    'Get-RecipientPermission',
    'Add-RecipientPermission',
    'Remove-DistributionGroupMember'
)

$script:KnownActions = [string[]]@(
    'convertToShared',
    'grantManagerFullAccess',
    'grantManagerSendAs',
    'removeFromDistributionGroups'
)

# Group kinds the membership query returns. Only plain distribution groups are changed: security-enabled
# groups grant access to resources and Microsoft 365 groups have their own membership model.
$script:DistributionGroupType = 'MailUniversalDistributionGroup'
$script:SecurityGroupType = 'MailUniversalSecurityGroup'
$script:Microsoft365GroupType = 'GroupMailbox'

# The planner's address rule (addressProblem in shared/sweep/plan.ts), repeated here so this module is
# safe on its own: at most 254 characters, exactly one '@', a local part of at most 64 letters, marks,
# digits and . _ % + ' - without a leading, trailing or double dot, and domain labels of letters, marks,
# digits and inner hyphens ending in a top-level domain of 2 to 63 letters. Everything PowerShell or OPATH
# treats specially ($ ` " ; | * { } ( ), typographic quotes, whitespace, control characters) is outside
# it. \A and \z, not ^ and $: '$' would accept a trailing newline.
$script:AddressPattern = '\A(?=[^@]{1,64}@)[\p{L}\p{M}\p{N}_%+''-]+(?:\.[\p{L}\p{M}\p{N}_%+''-]+)*@(?:[\p{L}\p{M}\p{N}](?:[\p{L}\p{M}\p{N}-]{0,61}[\p{L}\p{M}\p{N}])?\.)+[\p{L}\p{M}]{2,63}\z'
$script:OrganizationPattern = '\A(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\z'
$script:MaxAddressLength = 254
# Payloads carry a certificate at most; anything bigger is not ours.
$script:MaxPayloadLength = 4 * 1024 * 1024

$script:Connected = $false
$script:Certificate = $null
$script:Organization = $null

$script:JsonOptions = [System.Text.Json.JsonSerializerOptions]::new()
$script:JsonDocumentOptions = [System.Text.Json.JsonDocumentOptions]::new()

# ---------------------------------------------------------------------------------------------------------
# Exported functions

function Connect-ExoSession {
    <#
    .SYNOPSIS
    Imports ExchangeOnlineManagement by name and connects app-only (certificate or managed identity).
    .DESCRIPTION
    Payload (base64 of UTF-8 JSON), as the data line after the command (or -Payload, for scripts):
      { organization, auth: 'certificate', appId, certificate: { format: 'pfx'|'pem', data: <base64>, password } }
      { organization, auth: 'managedIdentity', accountId? }
    The certificate is built in memory and kept only for the life of the connection.
    #>
    [CmdletBinding()]
    param([AllowEmptyString()][string]$Payload)
    # First, before anything can fail: the data line is ours to consume, never a command.
    if (-not $PSBoundParameters.ContainsKey('Payload')) { $Payload = Read-ExoDataLine }
    Initialize-ExoPreferences
    $context = @{ result = $null }
    try {
        $null = Connect-ExoSessionCore -Context $context -Payload $Payload
    } catch {
        $context.result = New-ExoErrorResult -ErrorRecord $_ -DefaultCode 'ConnectFailed'
    }
    Write-ExoResult $context.result
}

function Invoke-ExoRunPlan {
    <#
    .SYNOPSIS
    Runs one run's plan against the connected organization and reports every action.
    .DESCRIPTION
    Payload: { runId, mailbox, manager?, actions: [ { name, skipReason? } ], options: { autoMapping }, whatIf }
    With whatIf the read-only lookups run and no change cmdlet is called; actions report 'planned' with the
    cmdlets they would run, or 'already' when nothing differs.
    #>
    [CmdletBinding()]
    param([AllowEmptyString()][string]$Payload)
    if (-not $PSBoundParameters.ContainsKey('Payload')) { $Payload = Read-ExoDataLine }
    Initialize-ExoPreferences
    $context = @{ result = $null }
    try {
        $null = Invoke-ExoRunPlanCore -Context $context -Payload $Payload
    } catch {
        $context.result = New-ExoErrorResult -ErrorRecord $_ -DefaultCode 'RunFailed'
    }
    Write-ExoResult $context.result
}

function Disconnect-ExoSession {
    <#
    .SYNOPSIS
    Disconnect-ExchangeOnline and dispose the in-memory certificate. Safe when not connected.
    #>
    [CmdletBinding()]
    param()
    Initialize-ExoPreferences
    $result = [ordered]@{ ok = $true; disconnected = $false }
    try {
        if ($script:Connected) {
            $null = & $script:DisconnectCommand -Confirm:$false -ErrorAction Stop -WarningAction SilentlyContinue -InformationAction Ignore 6>$null
            $result.disconnected = $true
        }
    } catch {
        $result = New-ExoErrorResult -ErrorRecord $_ -DefaultCode 'DisconnectFailed'
    } finally {
        $script:Connected = $false
        $script:Organization = $null
        if ($null -ne $script:Certificate) {
            $script:Certificate.Dispose()
            $script:Certificate = $null
        }
    }
    Write-ExoResult $result
}

function Get-ExoStatus {
    <#
    .SYNOPSIS
    A cheap answer that proves the module is loaded: process id, PowerShell version, connection state.
    #>
    [CmdletBinding()]
    param()
    Initialize-ExoPreferences
    Write-ExoResult ([ordered]@{
            ok                = $true
            pid               = $PID
            powerShellVersion = $PSVersionTable.PSVersion.ToString()
            connected         = $script:Connected
        })
}

function Get-ExoProbe {
    <#
    .SYNOPSIS
    Which PowerShell answered and which ExchangeOnlineManagement PSModulePath resolves, without connecting.
    #>
    [CmdletBinding()]
    param()
    Initialize-ExoPreferences
    $result = [ordered]@{
        ok                = $true
        pid               = $PID
        powerShellVersion = $PSVersionTable.PSVersion.ToString()
        powerShellEdition = [string]$PSVersionTable.PSEdition
    }
    try {
        $best = $null
        foreach ($module in @(Get-Module -ListAvailable -Name $script:ExchangeModuleName -ErrorAction SilentlyContinue)) {
            if ($null -eq $best -or $module.Version -gt $best.Version) { $best = $module }
        }
        if ($null -ne $best) {
            $result.exchangeModuleVersion = $best.Version.ToString()
            $result.exchangeModulePath = [string]$best.ModuleBase
            $result.exchangeModuleDescription = Limit-ExoText ([string]$best.Description) 300
        }
    } catch {
        $result = New-ExoErrorResult -ErrorRecord $_ -DefaultCode 'ProbeFailed'
    }
    Write-ExoResult $result
}

# ---------------------------------------------------------------------------------------------------------
# Connect

function Connect-ExoSessionCore {
    param($Context, [string]$Payload)
    $request = Read-ExoPayload $Payload

    $organization = $request['organization']
    if ($organization -isnot [string] -or -not [regex]::IsMatch($organization, $script:OrganizationPattern)) {
        throw (New-ExoException 'PayloadInvalid' 'The organization must be a domain name such as contoso.onmicrosoft.com.')
    }

    if ($script:Connected) {
        if ($organization -ne $script:Organization) {
            throw (New-ExoException 'AlreadyConnected' "This PowerShell session is already connected to $($script:Organization).")
        }
        $Context.result = [ordered]@{ ok = $true; connected = $true; reused = $true; organization = $script:Organization }
        return
    }

    $connectParameters = [ordered]@{
        Organization          = $organization
        ShowBanner            = [switch]$false
        CommandName           = $script:ExchangeCmdlets
        SkipLoadingFormatData = [switch]$true
    }
    $certificate = $null
    $auth = $request['auth']
    if ($auth -eq 'certificate') {
        $appId = $request['appId']
        $parsedAppId = [guid]::Empty
        if ($appId -isnot [string] -or -not [guid]::TryParse($appId, [ref]$parsedAppId)) {
            throw (New-ExoException 'PayloadInvalid' 'The app id must be a GUID (the Entra application (client) id).')
        }
        $certificate = New-ExoCertificate $request['certificate']
        $connectParameters.Certificate = $certificate
        $connectParameters.AppId = $appId
    } elseif ($auth -eq 'managedIdentity') {
        $connectParameters.ManagedIdentity = [switch]$true
        $accountId = $request['accountId']
        if ($null -ne $accountId -and -not ($accountId -is [string] -and $accountId.Length -eq 0)) {
            $parsedAccountId = [guid]::Empty
            if ($accountId -isnot [string] -or -not [guid]::TryParse($accountId, [ref]$parsedAccountId)) {
                throw (New-ExoException 'PayloadInvalid' 'The managed identity account id must be a GUID (the client id of the user-assigned identity).')
            }
            $connectParameters.ManagedIdentityAccountId = $accountId
        }
    } else {
        throw (New-ExoException 'PayloadInvalid' "The auth mode must be 'certificate' or 'managedIdentity'.")
    }

    $warnings = [System.Collections.Generic.List[string]]::new()
    try {
        try {
            # By name, so PSModulePath decides which module loads. -Global: Connect-ExchangeOnline builds its
            # session module for the whole runspace, as in an interactive session.
            Import-Module -Name $script:ExchangeModuleName -Global -DisableNameChecking -ErrorAction Stop -WarningAction SilentlyContinue -InformationAction Ignore 6>$null
        } catch {
            throw (New-ExoException 'ExchangeModuleNotFound' ("The $($script:ExchangeModuleName) module could not be imported: " + (Get-ExoErrorMessage $_)))
        }
        $connectWarnings = $null
        try {
            $null = & $script:ConnectCommand @connectParameters -ErrorAction Stop -WarningAction SilentlyContinue -WarningVariable connectWarnings -InformationAction Ignore 6>$null
        } catch {
            throw (New-ExoException 'ConnectFailed' ('Connect-ExchangeOnline failed: ' + (Get-ExoErrorMessage $_)))
        } finally {
            Add-ExoWarnings -List $warnings -Records $connectWarnings
        }
    } catch {
        if ($null -ne $certificate) { $certificate.Dispose() }
        throw
    }

    $script:Connected = $true
    $script:Organization = $organization
    $script:Certificate = $certificate

    $result = [ordered]@{
        ok           = $true
        connected    = $true
        organization = $organization
        auth         = [string]$auth
        warnings     = $warnings
    }
    if ($null -ne $certificate) {
        $result.thumbprint = $certificate.Thumbprint
        $result.notAfter = $certificate.NotAfter.ToUniversalTime().ToString('o', [System.Globalization.CultureInfo]::InvariantCulture)
    }
    $loaded = @(Get-Module -Name $script:ExchangeModuleName)
    if ($loaded.Count -gt 0) { $result.exchangeModuleVersion = $loaded[0].Version.ToString() }
    $Context.result = $result
}

function New-ExoCertificate {
    # Builds the X509Certificate2 in memory from PFX bytes or PEM text; nothing touches the disk.
    param($Spec)
    if ($Spec -isnot [System.Collections.IDictionary]) {
        throw (New-ExoException 'PayloadInvalid' 'The certificate is missing from the connect payload.')
    }
    $format = $Spec['format']
    $password = $Spec['password']
    if ($null -ne $password -and $password -isnot [string]) {
        throw (New-ExoException 'PayloadInvalid' 'The certificate password must be a string.')
    }
    $bytes = $null
    try {
        $bytes = [Convert]::FromBase64String([string]$Spec['data'])
    } catch {
        throw (New-ExoException 'CertificateInvalid' 'The certificate data is not base64.')
    }
    $certificate = $null
    try {
        if ($format -eq 'pfx') {
            # EphemeralKeySet keeps the private key in memory only (no key file); macOS does not support it.
            $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::EphemeralKeySet
            if ([System.OperatingSystem]::IsMacOS()) {
                $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::DefaultKeySet
            }
            # X509CertificateLoader is the .NET 9+ API; pwsh 7.4 (.NET 8) only has the constructor.
            $loader = 'System.Security.Cryptography.X509Certificates.X509CertificateLoader' -as [type]
            if ($null -ne $loader) {
                $certificate = $loader::LoadPkcs12($bytes, $password, $flags, $null)
            } else {
                $certificate = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new($bytes, $password, $flags)
            }
        } elseif ($format -eq 'pem') {
            $text = [System.Text.Encoding]::UTF8.GetString($bytes)
            # The same text holds the certificate and its key (Key Vault's application/x-pem-file).
            if ($text.Contains('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
                $certificate = [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromEncryptedPem($text, $text, [string]$password)
            } else {
                $certificate = [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromPem($text, $text)
            }
        } else {
            throw (New-ExoException 'PayloadInvalid' "The certificate format must be 'pfx' or 'pem'.")
        }
    } catch {
        if ($null -ne $_.Exception.Data['ExoCode']) { throw }
        # .NET's message says what is wrong (bad password, no key in the PEM, ...) without echoing the bytes.
        throw (New-ExoException 'CertificateInvalid' ("The $format certificate could not be read: " + (Get-ExoErrorMessage $_)))
    } finally {
        if ($null -ne $bytes) { [Array]::Clear($bytes, 0, $bytes.Length) }
    }
    if (-not $certificate.HasPrivateKey) {
        $thumbprint = $certificate.Thumbprint
        $certificate.Dispose()
        throw (New-ExoException 'CertificateNoPrivateKey' "The certificate (thumbprint $thumbprint) has no private key; Exchange Online app-only sign-in needs the certificate with its private key.")
    }
    if ($certificate.NotAfter -lt [datetime]::Now) {
        $thumbprint = $certificate.Thumbprint
        $expired = $certificate.NotAfter.ToUniversalTime().ToString('u', [System.Globalization.CultureInfo]::InvariantCulture)
        $certificate.Dispose()
        throw (New-ExoException 'CertificateExpired' "The certificate (thumbprint $thumbprint) expired on $expired.")
    }
    return $certificate
}

# ---------------------------------------------------------------------------------------------------------
# Run plan

function Invoke-ExoRunPlanCore {
    param($Context, [string]$Payload)
    $request = Read-ExoPayload $Payload

    $whatIf = $request['whatIf']
    if ($null -ne $whatIf -and $whatIf -isnot [bool]) {
        throw (New-ExoException 'PayloadInvalid' 'whatIf must be true or false.')
    }
    $whatIf = $whatIf -eq $true
    $autoMapping = $true
    $options = $request['options']
    if ($options -is [System.Collections.IDictionary] -and $options['autoMapping'] -is [bool]) {
        $autoMapping = $options['autoMapping']
    }
    $rawActions = $request['actions']
    if ($rawActions -isnot [System.Collections.IList]) {
        throw (New-ExoException 'PayloadInvalid' 'actions must be a list.')
    }
    if (-not $script:Connected) {
        throw (New-ExoException 'NotConnected' 'This PowerShell session is not connected to Exchange Online (call Connect-ExoSession first).')
    }

    $run = [ordered]@{
        ok          = $true
        runId       = Limit-ExoText ([string]$request['runId']) 200
        whatIf      = $whatIf
        actions     = [System.Collections.Generic.List[object]]::new()
        cmdletCalls = 0
    }
    $Context.result = $run

    $pending = [System.Collections.Generic.List[object]]::new()
    $seen = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::Ordinal)
    foreach ($raw in $rawActions) {
        $name = $null
        $skipReason = $null
        if ($raw -is [System.Collections.IDictionary]) {
            $name = $raw['name']
            $skipReason = $raw['skipReason']
        }
        if ($name -isnot [string] -or $script:KnownActions -cnotcontains $name) {
            $action = New-ExoActionResult ('unknown:' + (Format-ExoShown ([string]$name)))
            Set-ExoActionStatus $action 'failed' ("Unknown action " + (Format-ExoQuoted ([string]$name)) + '; nothing was run for it.')
            $run.actions.Add($action)
            continue
        }
        if (-not $seen.Add($name)) { continue }
        $action = New-ExoActionResult $name
        $run.actions.Add($action)
        if ($skipReason -is [string] -and $skipReason.Length -gt 0) {
            Set-ExoActionStatus $action 'skipped' (Limit-ExoText $skipReason 300)
        } else {
            $pending.Add($action)
        }
    }
    if ($pending.Count -eq 0) { return }

    # The leaver's mailbox: validated, then resolved once; every action works on the resolved object.
    $address = $request['mailbox']
    if ($null -eq $address -or ($address -is [string] -and $address.Length -eq 0)) {
        Set-ExoRunFailed $pending "The leaver has no email address; nothing was changed."
        return
    }
    if (-not (Test-ExoAddress $address)) {
        Set-ExoRunFailed $pending ("The leaver's email address " + (Format-ExoQuoted ([string]$address)) + ' is not a valid email address; nothing was changed.')
        return
    }
    $mailbox = Resolve-ExoRecipient -Run $run -Action $pending[0] -Cmdlet 'Get-Mailbox' -Address $address -Role 'mailbox'
    if (-not $mailbox.ok) {
        Set-ExoRunFailed $pending $mailbox.message
        return
    }

    $state = @{
        run         = $run
        whatIf      = $whatIf
        autoMapping = $autoMapping
        mailbox     = $mailbox
        manager     = $null
        managerRaw  = $request['manager']
    }
    foreach ($action in $pending) {
        try {
            switch ($action.name) {
                'convertToShared' { Invoke-ExoConvertToShared -State $state -Action $action }
                'grantManagerFullAccess' { Invoke-ExoGrantFullAccess -State $state -Action $action }
                'grantManagerSendAs' { Invoke-ExoGrantSendAs -State $state -Action $action }
                'removeFromDistributionGroups' { Invoke-ExoRemoveFromGroups -State $state -Action $action }
            }
        } catch {
            Set-ExoActionStatus $action 'failed' (Get-ExoErrorMessage $_)
        }
    }
}

function Invoke-ExoConvertToShared {
    param($State, $Action)
    $mailbox = $State.mailbox
    if ($mailbox.type -eq 'SharedMailbox') {
        Set-ExoActionStatus $Action 'already' "$($mailbox.address) is already a shared mailbox."
        return
    }
    if ($mailbox.type -ne 'UserMailbox') {
        Set-ExoActionStatus $Action 'failed' ("$($mailbox.address) is a " + (Format-ExoShown $mailbox.type) + ', not a user mailbox; only user mailboxes are converted to shared.')
        return
    }
    $parameters = [ordered]@{ Identity = $mailbox.guid; Type = 'Shared'; Confirm = [switch]$false }
    if ($State.whatIf) {
        Add-ExoPlannedCmdlet -Action $Action -Name 'Set-Mailbox' -Parameters $parameters
        Set-ExoActionStatus $Action 'planned' "Would convert $($mailbox.address) to a shared mailbox."
        return
    }
    $null = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Set-Mailbox' -Parameters $parameters
    Set-ExoActionStatus $Action 'done' "Converted $($mailbox.address) to a shared mailbox."
}

function Invoke-ExoGrantFullAccess {
    param($State, $Action)
    $manager = Get-ExoManager -State $State -Action $Action
    if ($null -eq $manager) { return }
    $mailbox = $State.mailbox
    $existing = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-MailboxPermission' -Parameters ([ordered]@{ Identity = $mailbox.guid; User = $manager.guid })
    foreach ($entry in $existing) {
        if ((Test-ExoRights (Get-ExoProp $entry 'AccessRights') 'FullAccess') -and -not (ConvertTo-ExoBool (Get-ExoProp $entry 'Deny'))) {
            Set-ExoActionStatus $Action 'already' "$($manager.address) already has FullAccess to $($mailbox.address)."
            return
        }
    }
    $parameters = [ordered]@{
        Identity        = $mailbox.guid
        User            = $manager.guid
        AccessRights    = 'FullAccess'
        InheritanceType = 'All'
        AutoMapping     = [bool]$State.autoMapping
        Confirm         = [switch]$false
    }
    $mapping = if ($State.autoMapping) { 'on' } else { 'off' }
    if ($State.whatIf) {
        Add-ExoPlannedCmdlet -Action $Action -Name 'Add-MailboxPermission' -Parameters $parameters
        Set-ExoActionStatus $Action 'planned' "Would grant $($manager.address) FullAccess to $($mailbox.address) (AutoMapping $mapping)."
        return
    }
    $null = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Add-MailboxPermission' -Parameters $parameters
    Set-ExoActionStatus $Action 'done' "Granted $($manager.address) FullAccess to $($mailbox.address) (AutoMapping $mapping)."
}

function Invoke-ExoGrantSendAs {
    param($State, $Action)
    $manager = Get-ExoManager -State $State -Action $Action
    if ($null -eq $manager) { return }
    $mailbox = $State.mailbox
    $existing = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-RecipientPermission' -Parameters ([ordered]@{ Identity = $mailbox.guid; Trustee = $manager.guid; AccessRights = 'SendAs' })
    foreach ($entry in $existing) {
        $allow = [string](Get-ExoProp $entry 'AccessControlType')
        if ((Test-ExoRights (Get-ExoProp $entry 'AccessRights') 'SendAs') -and ($allow.Length -eq 0 -or $allow -eq 'Allow')) {
            Set-ExoActionStatus $Action 'already' "$($manager.address) already has SendAs on $($mailbox.address)."
            return
        }
    }
    $parameters = [ordered]@{ Identity = $mailbox.guid; Trustee = $manager.guid; AccessRights = 'SendAs'; Confirm = [switch]$false }
    if ($State.whatIf) {
        Add-ExoPlannedCmdlet -Action $Action -Name 'Add-RecipientPermission' -Parameters $parameters
        Set-ExoActionStatus $Action 'planned' "Would grant $($manager.address) SendAs on $($mailbox.address)."
        return
    }
    $null = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Add-RecipientPermission' -Parameters $parameters
    Set-ExoActionStatus $Action 'done' "Granted $($manager.address) SendAs on $($mailbox.address)."
}

function Invoke-ExoRemoveFromGroups {
    param($State, $Action)
    $mailbox = $State.mailbox
    # One membership query for the person, never a walk over every group's members. The DN came from
    # Exchange; OPATH quotes a single quote by doubling it.
    $filter = "Members -eq '" + $mailbox.dn.Replace("'", "''") + "'"
    $groups = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-Recipient' -Parameters ([ordered]@{
            Filter               = $filter
            RecipientTypeDetails = [string[]]@($script:DistributionGroupType, $script:SecurityGroupType, $script:Microsoft365GroupType)
            ResultSize           = 'Unlimited'
        })

    $removed = [System.Collections.Generic.List[string]]::new()
    $planned = [System.Collections.Generic.List[string]]::new()
    $notMember = [System.Collections.Generic.List[string]]::new()
    $failures = [System.Collections.Generic.List[string]]::new()
    $security = [System.Collections.Generic.List[string]]::new()
    $unified = [System.Collections.Generic.List[string]]::new()
    $other = [System.Collections.Generic.List[string]]::new()
    foreach ($group in $groups) {
        $label = Format-ExoGroupLabel $group
        $type = [string](Get-ExoProp $group 'RecipientTypeDetails')
        if ($type -eq $script:SecurityGroupType) { $security.Add($label); continue }
        if ($type -eq $script:Microsoft365GroupType) { $unified.Add($label); continue }
        if ($type -ne $script:DistributionGroupType) { $other.Add($label); continue }
        $groupGuid = [string](Get-ExoProp $group 'Guid')
        if ($groupGuid.Length -eq 0) { $failures.Add("$label (Exchange returned no Guid)"); continue }
        $parameters = [ordered]@{
            Identity                        = $groupGuid
            Member                          = $mailbox.guid
            BypassSecurityGroupManagerCheck = [switch]$true
            Confirm                         = [switch]$false
        }
        if ($State.whatIf) {
            Add-ExoPlannedCmdlet -Action $Action -Name 'Remove-DistributionGroupMember' -Parameters $parameters
            $planned.Add($label)
            continue
        }
        try {
            $null = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Remove-DistributionGroupMember' -Parameters $parameters
            $removed.Add($label)
        } catch {
            $message = Get-ExoErrorMessage $_
            # Someone removed the member between the query and now: the goal is met.
            if ($message -match "isn't a member|is not a member") { $notMember.Add($label) } else { $failures.Add("$label ($message)") }
        }
    }

    $parts = [System.Collections.Generic.List[string]]::new()
    if ($removed.Count -gt 0) { $parts.Add("Removed from $(Format-ExoCount $removed.Count 'distribution group'): " + ($removed -join ', ') + '.') }
    if ($planned.Count -gt 0) { $parts.Add("Would remove from $(Format-ExoCount $planned.Count 'distribution group'): " + ($planned -join ', ') + '.') }
    if ($failures.Count -gt 0) { $parts.Add("Could not remove from $(Format-ExoCount $failures.Count 'distribution group'): " + ($failures -join '; ') + '.') }
    if ($removed.Count + $planned.Count + $failures.Count -eq 0) { $parts.Add("$($mailbox.address) is not a member of any distribution group.") }
    if ($notMember.Count -gt 0) { $parts.Add('Already removed from: ' + ($notMember -join ', ') + '.') }
    if ($security.Count -gt 0) { $parts.Add("Left alone (security-enabled): " + ($security -join ', ') + '.') }
    if ($unified.Count -gt 0) { $parts.Add("Left alone (Microsoft 365 group): " + ($unified -join ', ') + '.') }
    if ($other.Count -gt 0) { $parts.Add("Left alone (other group type): " + ($other -join ', ') + '.') }
    $detail = $parts -join ' '

    if ($failures.Count -gt 0) { $status = 'failed' }
    elseif ($removed.Count -gt 0) { $status = 'done' }
    elseif ($planned.Count -gt 0) { $status = 'planned' }
    else { $status = 'already' }
    Set-ExoActionStatus $Action $status $detail
}

function Get-ExoManager {
    # Resolves the line manager once per run; the actions that need one share the answer.
    param($State, $Action)
    if ($null -eq $State.manager) {
        $raw = $State.managerRaw
        if ($null -eq $raw -or ($raw -is [string] -and $raw.Length -eq 0)) {
            $State.manager = @{ ok = $false; status = 'skipped'; message = 'The leaver has no line manager.' }
        } elseif (-not (Test-ExoAddress $raw)) {
            $State.manager = @{ ok = $false; status = 'failed'; message = ("The line manager's email address " + (Format-ExoQuoted ([string]$raw)) + ' is not a valid email address.') }
        } else {
            $resolved = Resolve-ExoRecipient -Run $State.run -Action $Action -Cmdlet 'Get-Recipient' -Address $raw -Role 'line manager'
            if ($resolved.ok -and $resolved.guid -eq $State.mailbox.guid) {
                $resolved = @{ ok = $false; message = "The line manager address $($resolved.address) is the leaver's own mailbox." }
            }
            if (-not $resolved.ok) { $resolved.status = 'failed' }
            $State.manager = $resolved
        }
    }
    if (-not $State.manager.ok) {
        Set-ExoActionStatus $Action $State.manager.status $State.manager.message
        return $null
    }
    return $State.manager
}

function Resolve-ExoRecipient {
    # Exactly one recipient that really carries the address, or a clear message. Exchange resolves
    # -Identity loosely (name, alias, display name, any proxy address), so the answer is checked.
    param($Run, $Action, [string]$Cmdlet, [string]$Address, [string]$Role)
    $found = $null
    try {
        $found = Invoke-ExoCmdlet -Run $Run -Action $Action -Name $Cmdlet -Parameters ([ordered]@{ Identity = $Address })
    } catch {
        if (Test-ExoNotFound $_) {
            return @{ ok = $false; message = "No $Role was found in Exchange Online for $Address." }
        }
        return @{ ok = $false; message = "Looking up the $Role $Address failed: " + (Get-ExoErrorMessage $_) }
    }
    if ($found.Count -eq 0) {
        return @{ ok = $false; message = "No $Role was found in Exchange Online for $Address." }
    }
    if ($found.Count -gt 1) {
        return @{ ok = $false; message = "$Address matches $($found.Count) recipients in Exchange Online; expected exactly one $Role." }
    }
    $recipient = $found[0]
    if (-not (Test-ExoRecipientAddress $recipient $Address)) {
        return @{ ok = $false; message = "The $Role found for $Address does not have that email address; nothing was changed for it." }
    }
    $guid = [string](Get-ExoProp $recipient 'Guid')
    $dn = [string](Get-ExoProp $recipient 'DistinguishedName')
    if ($guid.Length -eq 0 -or $dn.Length -eq 0) {
        return @{ ok = $false; message = "Exchange returned the $Role $Address without its Guid or DistinguishedName." }
    }
    return @{
        ok      = $true
        address = $Address
        guid    = $guid
        dn      = $dn
        type    = [string](Get-ExoProp $recipient 'RecipientTypeDetails')
    }
}

# ---------------------------------------------------------------------------------------------------------
# Calling Exchange

function Invoke-ExoCmdlet {
    # Every Exchange call goes through here: recorded as an exact command line on the action, counted,
    # errors terminate (caught by the caller), warnings captured instead of printed.
    param($Run, $Action, [string]$Name, [System.Collections.IDictionary]$Parameters)
    $Action.cmdlets.Add((Format-ExoCommandLine $Name $Parameters))
    $Run.cmdletCalls = $Run.cmdletCalls + 1
    $cmdletWarnings = $null
    $output = $null
    try {
        # @() inside: a cmdlet that returns nothing gives an empty array, not an array holding $null.
        $output = @(& $Name @Parameters -ErrorAction Stop -WarningAction SilentlyContinue -WarningVariable cmdletWarnings -InformationAction Ignore 6>$null)
    } finally {
        Add-ExoWarnings -List $Action.warnings -Records $cmdletWarnings
    }
    return , $output
}

function Add-ExoPlannedCmdlet {
    param($Action, [string]$Name, [System.Collections.IDictionary]$Parameters)
    $Action.cmdlets.Add((Format-ExoCommandLine $Name $Parameters))
}

function Add-ExoWarnings {
    param([System.Collections.Generic.List[string]]$List, $Records)
    foreach ($record in @($Records)) {
        if ($null -eq $record) { continue }
        $message = if ($record -is [System.Management.Automation.WarningRecord]) { $record.Message } else { [string]$record }
        $List.Add((Limit-ExoText $message 1000))
    }
}

function Format-ExoCommandLine {
    param([string]$Name, [System.Collections.IDictionary]$Parameters)
    $parts = [System.Collections.Generic.List[string]]::new()
    $parts.Add($Name)
    foreach ($key in $Parameters.Keys) {
        $value = $Parameters[$key]
        if ($value -is [System.Management.Automation.SwitchParameter]) {
            if ($value.IsPresent) { $parts.Add("-$key") } else { $parts.Add("-${key}:`$false") }
        } elseif ($value -is [bool]) {
            if ($value) { $parts.Add("-$key `$true") } else { $parts.Add("-$key `$false") }
        } elseif ($value -is [System.Array]) {
            $items = foreach ($item in $value) { Format-ExoLiteral ([string]$item) }
            $parts.Add("-$key " + ($items -join ','))
        } else {
            $parts.Add("-$key " + (Format-ExoLiteral ([string]$value)))
        }
    }
    return $parts -join ' '
}

function Format-ExoLiteral {
    # How the value would be typed in PowerShell: bare words as they are, anything else single-quoted with
    # every kind of single quote doubled (PowerShell treats U+2018..U+201B as quotes too).
    param([string]$Value)
    if ([regex]::IsMatch($Value, '\A[A-Za-z][A-Za-z0-9]*\z')) { return $Value }
    return "'" + [System.Management.Automation.Language.CodeGeneration]::EscapeSingleQuotedStringContent($Value) + "'"
}

# ---------------------------------------------------------------------------------------------------------
# Results

function New-ExoActionResult {
    param([string]$Name)
    return [ordered]@{
        name     = $Name
        status   = 'failed'
        detail   = $null
        cmdlets  = [System.Collections.Generic.List[string]]::new()
        warnings = [System.Collections.Generic.List[string]]::new()
    }
}

function Set-ExoActionStatus {
    param($Action, [string]$Status, [string]$Detail)
    $Action.status = $Status
    $Action.detail = $Detail
}

function Set-ExoRunFailed {
    param($Actions, [string]$Message)
    foreach ($action in $Actions) { Set-ExoActionStatus $action 'failed' $Message }
}

function New-ExoException {
    param([string]$Code, [string]$Message)
    $exception = [System.InvalidOperationException]::new($Message)
    $exception.Data['ExoCode'] = $Code
    return $exception
}

function New-ExoErrorResult {
    param([System.Management.Automation.ErrorRecord]$ErrorRecord, [string]$DefaultCode)
    $code = $ErrorRecord.Exception.Data['ExoCode']
    if ($null -eq $code) { $code = $DefaultCode }
    return [ordered]@{ ok = $false; error = [ordered]@{ code = [string]$code; message = Get-ExoErrorMessage $ErrorRecord } }
}

function Write-ExoResult {
    # The one line of output per call. The serializer's default encoder escapes non-ASCII and control
    # characters, so the line is plain ASCII whatever the console encoding.
    param($Result)
    $line = $null
    try {
        $plain = ConvertTo-ExoPlain $Result 0
        $line = [System.Text.Json.JsonSerializer]::Serialize($plain, [object], $script:JsonOptions)
    } catch {
        $line = '{"ok":false,"error":{"code":"SerializationFailed","message":"ExoActions could not serialize its result."}}'
    }
    [Console]::Out.WriteLine($line)
}

function ConvertTo-ExoPlain {
    # Plain .NET values only (no PSObject wrappers), so System.Text.Json sees strings, numbers, booleans,
    # dictionaries and lists.
    param($Value, [int]$Depth)
    if ($Depth -gt 16) { return '[too deep]' }
    if ($null -eq $Value) { return $null }
    if ($Value -is [string]) { return [string]$Value }
    if ($Value -is [bool]) { return [bool]$Value }
    if ($Value -is [System.Management.Automation.SwitchParameter]) { return [bool]$Value.IsPresent }
    if ($Value -is [int] -or $Value -is [long]) { return [long]$Value }
    if ($Value -is [double]) { return [double]$Value }
    if ($Value -is [System.Collections.IDictionary]) {
        $dictionary = [System.Collections.Generic.Dictionary[string, object]]::new()
        foreach ($key in $Value.Keys) { $dictionary[[string]$key] = ConvertTo-ExoPlain $Value[$key] ($Depth + 1) }
        return , $dictionary
    }
    if ($Value -is [System.Collections.IEnumerable]) {
        $list = [System.Collections.Generic.List[object]]::new()
        foreach ($item in $Value) { $list.Add((ConvertTo-ExoPlain $item ($Depth + 1))) }
        return , $list
    }
    return [string]$Value
}

# ---------------------------------------------------------------------------------------------------------
# Payload and validation

function Read-ExoDataLine {
    # The line Node sends right after the command: '#' + base64. A missing or foreign line yields '',
    # which Read-ExoPayload refuses as an invalid payload.
    $line = [Console]::In.ReadLine()
    if ($null -eq $line) { return '' }
    $line = $line.Trim()
    if ($line.StartsWith('#')) { return $line.Substring(1) }
    return ''
}

function Read-ExoPayload {
    param([string]$Payload)
    if ($Payload.Length -eq 0 -or $Payload.Length -gt $script:MaxPayloadLength) {
        throw (New-ExoException 'PayloadInvalid' 'The payload is empty or too large.')
    }
    $json = $null
    try {
        $json = [System.Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($Payload))
    } catch {
        throw (New-ExoException 'PayloadInvalid' 'The payload is not base64.')
    }
    $value = $null
    try {
        $document = [System.Text.Json.JsonDocument]::Parse($json, $script:JsonDocumentOptions)
        try { $value = ConvertFrom-ExoJsonElement $document.RootElement 0 } finally { $document.Dispose() }
    } catch {
        throw (New-ExoException 'PayloadInvalid' 'The payload is not valid JSON.')
    }
    if ($value -isnot [System.Collections.IDictionary]) {
        throw (New-ExoException 'PayloadInvalid' 'The payload is not a JSON object.')
    }
    return $value
}

function ConvertFrom-ExoJsonElement {
    param([System.Text.Json.JsonElement]$Element, [int]$Depth)
    if ($Depth -gt 16) { throw 'The payload is nested too deeply.' }
    switch ($Element.ValueKind) {
        'Object' {
            # Case-sensitive keys: JSON's are.
            $table = [System.Collections.Hashtable]::new([System.StringComparer]::Ordinal)
            foreach ($property in $Element.EnumerateObject()) { $table[$property.Name] = ConvertFrom-ExoJsonElement $property.Value ($Depth + 1) }
            return , $table
        }
        'Array' {
            $list = [System.Collections.Generic.List[object]]::new()
            foreach ($item in $Element.EnumerateArray()) { $list.Add((ConvertFrom-ExoJsonElement $item ($Depth + 1))) }
            return , $list
        }
        'String' { return $Element.GetString() }
        'Number' { return $Element.GetDouble() }
        'True' { return $true }
        'False' { return $false }
        default { return $null }
    }
}

function Test-ExoAddress {
    param($Value)
    if ($Value -isnot [string]) { return $false }
    if ($Value.Length -lt 6 -or $Value.Length -gt $script:MaxAddressLength) { return $false }
    return [regex]::IsMatch($Value, $script:AddressPattern)
}

function Test-ExoRecipientAddress {
    param($Recipient, [string]$Address)
    $candidates = [System.Collections.Generic.List[string]]::new()
    foreach ($property in 'PrimarySmtpAddress', 'WindowsEmailAddress', 'UserPrincipalName') {
        $value = Get-ExoProp $Recipient $property
        if ($null -ne $value) { $candidates.Add([string]$value) }
    }
    foreach ($proxy in @(Get-ExoProp $Recipient 'EmailAddresses')) {
        $text = [string]$proxy
        # Only SMTP proxies (SMTP: primary, smtp: secondary); X500, SIP and the like are not email addresses.
        if ($text.StartsWith('smtp:', [System.StringComparison]::OrdinalIgnoreCase)) { $candidates.Add($text.Substring(5)) }
    }
    foreach ($candidate in $candidates) {
        if ([string]::Equals($candidate, $Address, [System.StringComparison]::OrdinalIgnoreCase)) { return $true }
    }
    return $false
}

function Test-ExoNotFound {
    param([System.Management.Automation.ErrorRecord]$ErrorRecord)
    # A cmdlet missing from the session is also ObjectNotFound, but is not an unknown recipient.
    if ($ErrorRecord.Exception -is [System.Management.Automation.CommandNotFoundException]) { return $false }
    if ($ErrorRecord.CategoryInfo.Category -eq [System.Management.Automation.ErrorCategory]::ObjectNotFound) { return $true }
    return $ErrorRecord.Exception.Message -match "couldn't be found|could not be found|wasn't found"
}

function Test-ExoRights {
    # AccessRights arrive as an array of names or as one "FullAccess, ReadPermission" string.
    param($Rights, [string]$Right)
    foreach ($item in @($Rights)) {
        foreach ($part in ([string]$item).Split(',')) {
            if ($part.Trim() -eq $Right) { return $true }
        }
    }
    return $false
}

function ConvertTo-ExoBool {
    # REST-deserialized objects may carry "False" as a string, which [bool] would call true.
    param($Value)
    if ($Value -is [bool]) { return $Value }
    if ($null -eq $Value) { return $false }
    return [string]::Equals([string]$Value, 'True', [System.StringComparison]::OrdinalIgnoreCase)
}

function Get-ExoProp {
    # Property access that tolerates objects without the property (strict mode would throw).
    param($Object, [string]$Name)
    if ($null -eq $Object) { return $null }
    if ($Object -is [System.Collections.IDictionary]) { return $Object[$Name] }
    $property = $Object.PSObject.Properties[$Name]
    if ($null -eq $property) { return $null }
    return $property.Value
}

# ---------------------------------------------------------------------------------------------------------
# Text

function Get-ExoErrorMessage {
    param([System.Management.Automation.ErrorRecord]$ErrorRecord)
    $exception = $ErrorRecord.Exception
    # .NET calls fail as 'Exception calling "X" with "2" argument(s): ...'; the inner message is the useful one.
    if ($exception -is [System.Management.Automation.MethodInvocationException] -and $null -ne $exception.InnerException) {
        $exception = $exception.InnerException
    }
    $message = $exception.Message
    if ([string]::IsNullOrWhiteSpace($message)) { $message = [string]$ErrorRecord }
    return Limit-ExoText $message 1000
}

function Limit-ExoText {
    # One line, no control or format characters (ANSI escapes, bidi overrides), bounded length.
    param([string]$Text, [int]$Max = 300)
    if ($null -eq $Text) { return '' }
    $clean = [regex]::Replace($Text, '[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+', ' ').Trim()
    if ($clean.Length -gt $Max) { $clean = $clean.Substring(0, $Max) + '...' }
    return $clean
}

function Format-ExoShown {
    # A hostile value shown in a message: cleaned and short.
    param([string]$Value)
    return Limit-ExoText $Value 80
}

function Format-ExoQuoted {
    param([string]$Value)
    return "'" + (Format-ExoShown $Value) + "'"
}

function Format-ExoGroupLabel {
    param($Group)
    $name = [string](Get-ExoProp $Group 'DisplayName')
    if ($name.Length -eq 0) { $name = [string](Get-ExoProp $Group 'Name') }
    $smtp = [string](Get-ExoProp $Group 'PrimarySmtpAddress')
    $label = Limit-ExoText $name 120
    if ($smtp.Length -gt 0) { $label = "$label <$(Limit-ExoText $smtp 120)>" }
    return $label
}

function Format-ExoCount {
    param([int]$Count, [string]$Noun)
    if ($Count -eq 1) { return "1 $Noun" }
    return "$Count $($Noun)s"
}

function Initialize-ExoPreferences {
    # The runspace keeps every line it was sent in its history, and the connect line carries the
    # certificate: drop earlier lines at every call (the adapter also clears right after connecting).
    Clear-History
    # Nothing but our JSON line may reach stdout or stderr: no progress bars, no host-written warnings, no
    # confirmation prompts (the process is non-interactive; a prompt would eat node-powershell's delimiters).
    $global:ProgressPreference = 'SilentlyContinue'
    $global:WarningPreference = 'SilentlyContinue'
    $global:InformationPreference = 'SilentlyContinue'
    $global:VerbosePreference = 'SilentlyContinue'
    $global:ConfirmPreference = 'None'
}

Export-ModuleMember -Function Connect-ExoSession, Invoke-ExoRunPlan, Disconnect-ExoSession, Get-ExoStatus, Get-ExoProbe
