#Requires -Version 7.2
<#
  ExoActions: every line of PowerShell the product runs against Exchange Online.

  Node (shared/exchange/powerShellExchangeShell.ts) imports this module into one long-lived PowerShell
  process and then only ever sends constant command lines:

      Connect-ExoSession      (followed by one data line: '#' + base64 JSON, read from stdin here)
      Invoke-ExoRunPlan       (the same)
      Get-ExoRunLook          (the same; phase 1: resolve and read every action's before-image, change nothing)
      Invoke-ExoRunApply      (data line { runId, lookId }; phase 2: perform what that look planned)
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

# The helpers that run several times for every cmdlet, as static methods: a PowerShell function call
# costs about 60 us (parameter binding, a new scope) and a static method about 6 us, measured on pwsh
# 7.6.9. Get-ExoProp and Limit-ExoText are these, for the code that calls them as functions.
class ExoText {
    # Property access that tolerates objects without the property (strict mode would throw).
    static [object] Prop([object]$Object, [string]$Name) {
        if ($null -eq $Object) { return $null }
        if ($Object -is [System.Collections.IDictionary]) { return $Object[$Name] }
        $property = $Object.PSObject.Properties[$Name]
        if ($null -eq $property) { return $null }
        return $property.Value
    }

    # One line, no control or format characters (ANSI escapes, bidi overrides), bounded length.
    static [string] Limit([string]$Text, [int]$Max) {
        if ($null -eq $Text) { return '' }
        $clean = [regex]::Replace($Text, '[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+', ' ').Trim()
        if ($clean.Length -gt $Max) { $clean = $clean.Substring(0, $Max) + '...' }
        return $clean
    }

    # How the value would be typed in PowerShell: bare words as they are, anything else single-quoted with
    # every kind of single quote doubled (PowerShell treats U+2018..U+201B as quotes too).
    static [string] Literal([string]$Value) {
        if ($null -eq $Value) { $Value = '' }
        if ([regex]::IsMatch($Value, '\A[A-Za-z][A-Za-z0-9]*\z')) { return $Value }
        return "'" + [System.Management.Automation.Language.CodeGeneration]::EscapeSingleQuotedStringContent($Value) + "'"
    }

    # The exact command line of a call, as an action reports it.
    static [string] CommandLine([string]$Name, [System.Collections.IDictionary]$Parameters) {
        $parts = [System.Collections.Generic.List[string]]::new()
        $parts.Add($Name)
        foreach ($key in $Parameters.Keys) {
            $value = $Parameters[$key]
            if ($null -eq $value) {
                $parts.Add("-$key `$null")
            } elseif ($value -is [System.Management.Automation.SwitchParameter]) {
                if ($value.IsPresent) { $parts.Add("-$key") } else { $parts.Add("-${key}:`$false") }
            } elseif ($value -is [System.Collections.IDictionary]) {
                $pairs = [System.Collections.Generic.List[string]]::new()
                foreach ($name in $value.Keys) { $pairs.Add("$name=" + [ExoText]::Literal([string]$value[$name])) }
                $parts.Add("-$key @{" + ($pairs -join '; ') + '}')
            } elseif ($value -is [int] -or $value -is [long]) {
                $parts.Add("-$key " + $value.ToString([System.Globalization.CultureInfo]::InvariantCulture))
            } elseif ($value -is [bool]) {
                if ($value) { $parts.Add("-$key `$true") } else { $parts.Add("-$key `$false") }
            } elseif ($value -is [System.Array]) {
                $items = [System.Collections.Generic.List[string]]::new()
                foreach ($item in $value) { $items.Add([ExoText]::Literal([string]$item)) }
                $parts.Add("-$key " + ($items -join ','))
            } else {
                $parts.Add("-$key " + [ExoText]::Literal([string]$value))
            }
        }
        return $parts -join ' '
    }

    # How the report names a recipient: display name, primary address and Guid (the object changed).
    static [string] RecipientLabel([object]$Recipient) {
        $name = [string][ExoText]::Prop($Recipient, 'DisplayName')
        if ($name.Length -eq 0) { $name = [string][ExoText]::Prop($Recipient, 'Name') }
        $smtp = [string][ExoText]::Prop($Recipient, 'PrimarySmtpAddress')
        $guid = [string][ExoText]::Prop($Recipient, 'Guid')
        $label = [ExoText]::Limit($name, 120)
        if ($smtp.Length -gt 0) { $label = "$label <$([ExoText]::Limit($smtp, 120))>" }
        if ($guid.Length -gt 0) { $label = "$label ($([ExoText]::Limit($guid, 40)))" }
        return $label.Trim()
    }

    # Plain .NET values only (no PSObject wrappers), so System.Text.Json sees strings, numbers, booleans,
    # dictionaries and lists. Keys starting with '_' are this process's own bookkeeping (a look's planned
    # changes): never written out. Strings, booleans and nulls inside a container are taken as they are.
    static [object] Plain([object]$Value, [int]$Depth) {
        if ($Depth -gt 16) { return '[too deep]' }
        if ($null -eq $Value) { return $null }
        if ($Value -is [string]) { return [string]$Value }
        if ($Value -is [bool]) { return [bool]$Value }
        if ($Value -is [System.Management.Automation.SwitchParameter]) { return [bool]$Value.IsPresent }
        if ($Value -is [int] -or $Value -is [long]) { return [long]$Value }
        if ($Value -is [double]) { return [double]$Value }
        if ($Value -is [System.Collections.IDictionary]) {
            $dictionary = [System.Collections.Generic.Dictionary[string, object]]::new()
            foreach ($key in $Value.Keys) {
                if (([string]$key).StartsWith('_')) { continue }
                $dictionary[[string]$key] = [ExoText]::PlainItem($Value[$key], $Depth)
            }
            return $dictionary
        }
        if ($Value -is [System.Collections.IEnumerable]) {
            $list = [System.Collections.Generic.List[object]]::new()
            foreach ($item in $Value) { $list.Add([ExoText]::PlainItem($item, $Depth)) }
            return $list
        }
        return [string]$Value
    }

    # A payload's JSON as PowerShell values: objects as Hashtables with case-sensitive keys (JSON's are),
    # arrays as lists, numbers as doubles; at most 16 levels deep.
    static [object] FromJson([System.Text.Json.JsonElement]$Element, [int]$Depth) {
        if ($Depth -gt 16) { throw 'The payload is nested too deeply.' }
        $kind = $Element.ValueKind
        if ($kind -eq [System.Text.Json.JsonValueKind]::Object) {
            $table = [System.Collections.Hashtable]::new([System.StringComparer]::Ordinal)
            foreach ($property in $Element.EnumerateObject()) { $table[$property.Name] = [ExoText]::FromJson($property.Value, $Depth + 1) }
            return $table
        }
        if ($kind -eq [System.Text.Json.JsonValueKind]::Array) {
            $list = [System.Collections.Generic.List[object]]::new()
            foreach ($item in $Element.EnumerateArray()) { $list.Add([ExoText]::FromJson($item, $Depth + 1)) }
            return $list
        }
        if ($kind -eq [System.Text.Json.JsonValueKind]::String) { return $Element.GetString() }
        if ($kind -eq [System.Text.Json.JsonValueKind]::Number) { return $Element.GetDouble() }
        if ($kind -eq [System.Text.Json.JsonValueKind]::True) { return $true }
        if ($kind -eq [System.Text.Json.JsonValueKind]::False) { return $false }
        return $null
    }

    # An item of a container at $Depth: a leaf as it is, at any depth; a container one level deeper.
    hidden static [object] PlainItem([object]$Item, [int]$Depth) {
        if ($null -eq $Item) { return $null }
        if ($Item -is [string]) { return [string]$Item }
        if ($Item -is [bool]) { return [bool]$Item }
        return [ExoText]::Plain($Item, $Depth + 1)
    }
}

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
    'Remove-DistributionGroupMember',
    # The offboarding catalogue (ExoCatalogue.ps1).
    'Get-MailboxStatistics',
    'Get-MailboxAutoReplyConfiguration',
    'Set-MailboxAutoReplyConfiguration',
    'Get-CASMailbox',
    'Set-CASMailbox',
    'Get-MobileDevice',
    'Remove-MobileDevice',
    'Get-InboxRule',
    'Disable-InboxRule',
    'Remove-CalendarEvents',
    # Undo (ExoUndo.ps1).
    'Remove-MailboxPermission',
    'Remove-RecipientPermission',
    'Add-DistributionGroupMember',
    'Enable-InboxRule'
)

$script:KnownActions = [string[]]@(
    'convertToShared',
    'grantManagerFullAccess',
    'grantManagerSendAs',
    'removeFromDistributionGroups',
    # The offboarding catalogue (ExoCatalogue.ps1).
    'hideFromAddressLists',
    'setAutoReply',
    'forwardToManager',
    'grantManagerSendOnBehalf',
    'disableProtocols',
    'removeMobileDevices',
    'disableInboxRules',
    'cancelMeetings',
    'litigationHold'
)

# Group kinds the membership query returns. Only plain distribution groups are changed: security-enabled
# groups grant access to resources and Microsoft 365 groups have their own membership model.
$script:DistributionGroupType = 'MailUniversalDistributionGroup'
$script:SecurityGroupType = 'MailUniversalSecurityGroup'
$script:Microsoft365GroupType = 'GroupMailbox'
# A protected group protects its direct members (static groups; a dynamic group has no member links).
$script:ProtectedGroupTypes = [string[]]@('MailUniversalDistributionGroup', 'MailUniversalSecurityGroup', 'MailNonUniversalGroup', 'GroupMailbox', 'RoomList')
# Actions that need the line manager resolved.
$script:ManagerActions = [string[]]@('grantManagerFullAccess', 'grantManagerSendAs', 'grantManagerSendOnBehalf', 'forwardToManager')

# Exchange errors are told apart by what they are (exception type, the FailureCategory in the
# FullyQualifiedErrorId, the CategoryInfo reason), never by their English wording.
$script:NotFoundErrors = [string[]]@('ManagementObjectNotFoundException')
$script:NotMemberErrors = [string[]]@('MemberNotFoundException')
# Throttling (issue 14): Exchange's own types, and its messages ("Server Busy", HTTP 429, "throttled").
$script:ThrottleErrors = [string[]]@('ServerBusyException', 'ThrottlingException', 'OverBudgetException', 'TooManyRequestsException')
$script:ThrottlePattern = '(?i)throttl|server (is )?busy|too many requests|\b429\b|over ?budget'
$script:RetryAfterPattern = '(?i)retry[- ]after[:=]?\s*(?<n>\d+(?:\.\d+)?)\s*(?<unit>ms|msecs?|milliseconds?|s|secs?|seconds?)?'
$script:ThrottleAttempts = 4
$script:ThrottleBackoffMs = 1000
$script:ThrottleMaxWaitMs = 30000

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
# EXO_PROTECTED_RECIPIENTS entries as Exchange resolved them, for the life of the connection.
$script:ProtectedCache = [System.Collections.Generic.Dictionary[string, object]]::new([System.StringComparer]::OrdinalIgnoreCase)

# Looks waiting for their apply (Get-ExoRunLook -> Invoke-ExoRunApply), oldest first, at most MaxLooks.
$script:Looks = [System.Collections.Specialized.OrderedDictionary]::new()
$script:MaxLooks = 64

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
    Invoke-ExoEntryPoint -Payload $Payload -DefaultCode 'ConnectFailed' -Core { param($Context, $Data) Connect-ExoSessionCore -Context $Context -Payload $Data }
}

function Invoke-ExoRunPlan {
    <#
    .SYNOPSIS
    Runs one run's plan against the connected organization and reports every action.
    .DESCRIPTION
    Payload: { runId, mailbox, manager?, actions: [ { name, skipReason? } ], options: { autoMapping }, whatIf,
               policy?: { acceptSharedLeavers, protected: [address] }, pinned?: { leaver: { guid }, manager?: { guid } } }
    First the leaver and the line manager are resolved and checked (exactly one person's mailbox each, the
    pinned Guids when given, nobody protected); a refusal fails every action with the reason before any
    change. With whatIf the read-only lookups run and no change cmdlet is called; actions report 'planned'
    with the cmdlets they would run, or 'already' when nothing differs.
    The result carries subjects { leaver, manager } ({ guid, address, displayName, type }) or refusal.
    #>
    [CmdletBinding()]
    param([AllowEmptyString()][string]$Payload)
    if (-not $PSBoundParameters.ContainsKey('Payload')) { $Payload = Read-ExoDataLine }
    Invoke-ExoEntryPoint -Payload $Payload -DefaultCode 'RunFailed' -Core { param($Context, $Data) Invoke-ExoRunPlanCore -Context $Context -Payload $Data }
}

function Get-ExoRunLook {
    <#
    .SYNOPSIS
    Phase 1 of a run: resolve its people and, per action, read what it would change. Changes nothing.
    .DESCRIPTION
    The payload of Invoke-ExoRunPlan. Answers like a dry run of Invoke-ExoRunPlan, and per action also
    `before` (the state it is about to change) and `changes` ([{ cmdlet, parameters, line }]), plus a
    `lookId` that Invoke-ExoRunApply takes. The look is kept in this process only.
    #>
    [CmdletBinding()]
    param([AllowEmptyString()][string]$Payload)
    if (-not $PSBoundParameters.ContainsKey('Payload')) { $Payload = Read-ExoDataLine }
    Invoke-ExoEntryPoint -Payload $Payload -DefaultCode 'RunFailed' -Core { param($Context, $Data) Invoke-ExoRunPlanCore -Context $Context -Payload $Data -LookOnly }
}

function Invoke-ExoRunApply {
    <#
    .SYNOPSIS
    Phase 2 of a run: perform the changes a look in this process planned, and report each action's after-state.
    .DESCRIPTION
    Payload: { runId, lookId }. Only what the look stored is run (never cmdlets from the payload). Answers
    { ok, runId, actions: [ { name, status: 'done'|'already'|'failed', detail, cmdlets, warnings, after } ],
    cmdletCalls } for the actions the look planned; a look that is gone (another process) is LookNotFound.
    #>
    [CmdletBinding()]
    param([AllowEmptyString()][string]$Payload)
    if (-not $PSBoundParameters.ContainsKey('Payload')) { $Payload = Read-ExoDataLine }
    Invoke-ExoEntryPoint -Payload $Payload -DefaultCode 'RunFailed' -Core { param($Context, $Data) Invoke-ExoRunApplyCore -Context $Context -Payload $Data }
}

function Invoke-ExoEntryPoint {
    # What every run call does once it has its payload: quiet preferences, run the core, turn any
    # failure into { ok: false, error } with the call's default code, and write exactly one result line.
    param([AllowEmptyString()][string]$Payload, [string]$DefaultCode, [scriptblock]$Core)
    Initialize-ExoPreferences
    $context = @{ result = $null }
    try {
        $null = & $Core $context $Payload
    } catch {
        $context.result = New-ExoErrorResult -ErrorRecord $_ -DefaultCode $DefaultCode
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
        $script:ProtectedCache.Clear()
        $script:Looks.Clear()
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
            $result.exchangeModuleDescription = [ExoText]::Limit([string]$best.Description, 300)
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
    param($Context, [string]$Payload, [switch]$LookOnly)
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
    $policy = Read-ExoPolicy $request['policy']
    $pinned = Read-ExoPinned $request['pinned']
    if (-not $script:Connected) {
        throw (New-ExoException 'NotConnected' 'This PowerShell session is not connected to Exchange Online (call Connect-ExoSession first).')
    }

    $run = [ordered]@{
        ok          = $true
        runId       = [ExoText]::Limit([string]$request['runId'], 200)
        whatIf      = $whatIf
        actions     = [System.Collections.Generic.List[object]]::new()
        cmdletCalls = 0
        # Who the run is about, as Exchange resolved them (for pinning and the report), or why it refused.
        subjects    = $null
        refusal     = $null
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
            Set-ExoActionStatus $action 'skipped' ([ExoText]::Limit($skipReason, 300))
        } else {
            $pending.Add($action)
        }
    }
    if ($pending.Count -eq 0) { return }

    # Both people are resolved and checked before any change; every action then works on the resolved
    # objects' Guids (the caller pins the ones a first attempt's look resolved before its apply). The
    # lookups are recorded on the first action.
    $needManager = $false
    foreach ($action in $pending) { if ($script:ManagerActions -ccontains $action.name) { $needManager = $true } }
    $lookups = $pending[0]
    $subjects = Resolve-ExoSubjects -Run $run -Action $lookups -Request $request -Policy $policy -Pinned $pinned -NeedManager $needManager
    if (-not $subjects.ok) {
        $run.refusal = $subjects.message
        # Retrying cannot help (no such mailbox, a refused identity, a protected recipient): the caller may give up at once.
        $run.refusalFinal = $subjects.ContainsKey('final') -and $subjects.final -eq $true
        Set-ExoRunFailed $pending $subjects.message
        return
    }
    $run.subjects = [ordered]@{
        leaver  = ConvertTo-ExoSubjectView $subjects.leaver
        manager = if ($null -ne $subjects.manager) { ConvertTo-ExoSubjectView $subjects.manager } else { $null }
    }
    $state = @{
        run            = $run
        whatIf         = $whatIf
        autoMapping    = $autoMapping
        mailbox        = $subjects.leaver
        manager        = $subjects.manager
        # The catalogue's options for this run (validated again where used), and the run variables' people.
        options        = if ($options -is [System.Collections.IDictionary]) { $options } else { @{} }
        forwardTo      = $subjects.forwardTo
        delegate       = $subjects.delegate
        pendingActions = [string[]]@(foreach ($item in $pending) { $item.name })
    }
    foreach ($action in $pending) { Invoke-ExoActionLook -State $state -Action $action }
    if ($LookOnly) {
        # Kept in this process until Invoke-ExoRunApply (or a later look of the run) takes it: the caller
        # journals the before-images in between. A dry run (whatIf) keeps nothing.
        $planned = @(foreach ($action in $pending) { if ($action.status -eq 'planned') { $action } })
        if (-not $whatIf -and $planned.Count -gt 0) {
            $run.lookId = [guid]::NewGuid().ToString()
            Save-ExoLook -LookId $run.lookId -RunId $run.runId -State $state -Actions $pending
        }
        return
    }
    if ($whatIf) { return }
    foreach ($action in $pending) {
        if ($action.status -ne 'planned') { continue }
        $result = New-ExoActionResult $action.name
        Invoke-ExoActionApply -State $state -Look $action -Result $result
        Merge-ExoApplied -Look $action -Result $result
    }
}

function Save-ExoLook {
    param([string]$LookId, [string]$RunId, $State, $Actions)
    foreach ($key in @($script:Looks.Keys)) {
        if ($script:Looks[$key].runId -eq $RunId) { $script:Looks.Remove($key) }
    }
    while ($script:Looks.Count -ge $script:MaxLooks) { $script:Looks.RemoveAt(0) }
    $script:Looks[$LookId] = @{ runId = $RunId; state = $State; actions = $Actions }
}

function Use-ExoLook {
    # Phase 2's start, for a run's apply and an undo's: take the look the payload names (once: it is
    # removed), check it is this run's and that the session is connected, and start the result.
    # @{ look; run; state }.
    param($Context, [string]$Payload, [string]$Kind)
    $request = Read-ExoPayload $Payload
    $lookId = $request['lookId']
    $runId = [ExoText]::Limit([string]$request['runId'], 200)
    if ($lookId -isnot [string] -or -not $script:Looks.Contains($lookId)) {
        throw (New-ExoException 'LookNotFound' "This PowerShell process holds no $Kind for this run (it was restarted, or the look was applied already); nothing was changed.")
    }
    $look = $script:Looks[$lookId]
    if ($look.runId -ne $runId) { throw (New-ExoException 'PayloadInvalid' 'The look belongs to another run; nothing was changed.') }
    $script:Looks.Remove($lookId)
    if (-not $script:Connected) {
        throw (New-ExoException 'NotConnected' 'This PowerShell session is not connected to Exchange Online (call Connect-ExoSession first).')
    }
    $run = [ordered]@{ ok = $true; runId = $runId; actions = [System.Collections.Generic.List[object]]::new(); cmdletCalls = 0 }
    $Context.result = $run
    $state = $look.state
    $state.run = $run
    return @{ look = $look; run = $run; state = $state }
}

function Invoke-ExoRunApplyCore {
    param($Context, [string]$Payload)
    $taken = Use-ExoLook -Context $Context -Payload $Payload -Kind 'look'
    $look = $taken.look
    $run = $taken.run
    $state = $taken.state
    foreach ($action in $look.actions) {
        if ($action.status -ne 'planned') { continue }
        $result = New-ExoActionResult $action.name
        $run.actions.Add($result)
        Invoke-ExoActionApply -State $state -Look $action -Result $result
    }
}

function Read-ExoPolicy {
    # { acceptSharedLeavers: bool, protected: [address] } from the app's settings; absent means the defaults.
    param($Value)
    $policy = @{ acceptSharedLeavers = $false; protected = [System.Collections.Generic.List[string]]::new() }
    if ($null -eq $Value) { return $policy }
    if ($Value -isnot [System.Collections.IDictionary]) { throw (New-ExoException 'PayloadInvalid' 'policy must be an object.') }
    $accept = $Value['acceptSharedLeavers']
    if ($null -ne $accept -and $accept -isnot [bool]) { throw (New-ExoException 'PayloadInvalid' 'policy.acceptSharedLeavers must be true or false.') }
    $policy.acceptSharedLeavers = $accept -eq $true
    $protected = $Value['protected']
    if ($null -ne $protected) {
        if ($protected -isnot [System.Collections.IList]) { throw (New-ExoException 'PayloadInvalid' 'policy.protected must be a list of addresses.') }
        foreach ($entry in $protected) {
            if (-not (Test-ExoAddress $entry)) {
                throw (New-ExoException 'PayloadInvalid' ('The protected recipient ' + (Format-ExoQuoted ([string]$entry)) + ' is not an email address.'))
            }
            $policy.protected.Add([string]$entry)
        }
    }
    return $policy
}

function Read-ExoPinned {
    # { leaver: { guid }, manager?: { guid } }: who the run's first attempt resolved; absent on a first attempt.
    param($Value)
    $pinned = @{ leaver = $null; manager = $null }
    if ($null -eq $Value) { return $pinned }
    if ($Value -isnot [System.Collections.IDictionary]) { throw (New-ExoException 'PayloadInvalid' 'pinned must be an object.') }
    foreach ($role in 'leaver', 'manager') {
        $entry = $Value[$role]
        if ($null -eq $entry) { continue }
        $guid = if ($entry -is [System.Collections.IDictionary]) { $entry['guid'] } else { $null }
        $parsed = [guid]::Empty
        if ($guid -isnot [string] -or -not [guid]::TryParse($guid, [ref]$parsed)) {
            throw (New-ExoException 'PayloadInvalid' "pinned.$role.guid must be a GUID.")
        }
        $pinned[$role] = $parsed.ToString()
    }
    return $pinned
}

function Resolve-ExoSubjects {
    # The leaver (a person's mailbox: UserMailbox, or SharedMailbox when pinned or accepted) and the line
    # manager (a UserMailbox, not the leaver), one lookup each, then the protected list. Either a clear
    # message or both resolved objects.
    param($Run, $Action, $Request, $Policy, $Pinned, [bool]$NeedManager)
    $address = $Request['mailbox']
    if ($null -eq $address -or ($address -is [string] -and $address.Length -eq 0)) {
        return @{ ok = $false; message = 'The leaver has no email address; nothing was changed.' }
    }
    if (-not (Test-ExoAddress $address)) {
        return @{ ok = $false; message = "The leaver's email address " + (Format-ExoQuoted ([string]$address)) + ' is not a valid email address; nothing was changed.' }
    }
    $leaver = Resolve-ExoPerson -Run $Run -Action $Action -Cmdlet 'Get-Mailbox' -Address $address -Role 'leaver'
    if (-not $leaver.ok) { return $leaver }
    if ($null -ne $Pinned.leaver -and -not [string]::Equals($Pinned.leaver, $leaver.guid, [System.StringComparison]::OrdinalIgnoreCase)) {
        return @{ ok = $false; final = $true; message = "The leaver's address $address now belongs to a different mailbox, $($leaver.label), than when this run was first attempted (Guid $($Pinned.leaver)); nothing was changed." }
    }
    if ($leaver.type -eq 'SharedMailbox') {
        if ($null -eq $Pinned.leaver -and -not $Policy.acceptSharedLeavers) {
            return @{ ok = $false; final = $true; message = "The leaver's address $address belongs to $($leaver.label), which is already a shared mailbox, not a person's own mailbox; nothing was changed. If it was converted to shared by hand, set EXO_ACCEPT_SHARED_LEAVERS=true." }
        }
    } elseif ($leaver.type -ne 'UserMailbox') {
        return @{ ok = $false; final = $true; message = "The leaver's address $address belongs to $($leaver.label), a $(Format-ExoShown $leaver.type), not a person's mailbox; nothing was changed." }
    }

    $manager = $null
    $rawManager = $Request['manager']
    if ($NeedManager -and -not ($null -eq $rawManager -or ($rawManager -is [string] -and $rawManager.Length -eq 0))) {
        if (-not (Test-ExoAddress $rawManager)) {
            return @{ ok = $false; message = "The line manager's email address " + (Format-ExoQuoted ([string]$rawManager)) + ' is not a valid email address; nothing was changed.' }
        }
        $manager = Resolve-ExoPerson -Run $Run -Action $Action -Cmdlet 'Get-Recipient' -Address $rawManager -Role 'line manager'
        if (-not $manager.ok) { return $manager }
        if ([string]::Equals($manager.guid, $leaver.guid, [System.StringComparison]::OrdinalIgnoreCase)) {
            return @{ ok = $false; final = $true; message = "The line manager address $rawManager is the leaver's own mailbox, $($leaver.label); nothing was changed." }
        }
        if ($null -ne $Pinned.manager -and -not [string]::Equals($Pinned.manager, $manager.guid, [System.StringComparison]::OrdinalIgnoreCase)) {
            return @{ ok = $false; final = $true; message = "The line manager's address $rawManager now belongs to a different recipient, $($manager.label), than when this run was first attempted (Guid $($Pinned.manager)); nothing was changed." }
        }
        if ($manager.type -ne 'UserMailbox') {
            return @{ ok = $false; final = $true; message = "The line manager's address $rawManager belongs to $($manager.label), a $(Format-ExoShown $manager.type), not a person's mailbox; nothing was changed or granted. Fix the line manager in SaaS Manager." }
        }
    }

    # The people run variables name (forwardTo, delegateTo): the same checks as the manager.
    $targets = Resolve-ExoRunTargets -Run $Run -Action $Action -Request $Request -Leaver $leaver -Pinned $Pinned
    if (-not $targets.ok) { return $targets }
    $extra = [System.Collections.Generic.List[object]]::new()
    if ($null -ne $targets.forwardTo) { $extra.Add(@{ role = 'forwarding address (run variable forwardTo)'; who = $targets.forwardTo }) }
    if ($null -ne $targets.delegate) { $extra.Add(@{ role = 'delegate (run variable delegateTo)'; who = $targets.delegate }) }

    $protection = Test-ExoProtected -Run $Run -Action $Action -Policy $Policy -Leaver $leaver -Manager $manager -Extra $extra
    if (-not $protection.ok) { return $protection }
    return @{ ok = $true; leaver = $leaver; manager = $manager; forwardTo = $targets.forwardTo; delegate = $targets.delegate }
}

function Resolve-ExoPerson {
    # Exactly one recipient whose primary address or UPN is the address, or a clear message. Exchange
    # resolves -Identity loosely (name, alias, display name, any proxy address), so the answer is checked;
    # a match on a secondary address names the recipient it belongs to.
    param($Run, $Action, [string]$Cmdlet, [string]$Address, [string]$Role)
    $found = $null
    try {
        $found = Invoke-ExoCmdlet -Run $Run -Action $Action -Name $Cmdlet -Parameters ([ordered]@{ Identity = $Address })
    } catch {
        if (Test-ExoNotFound $_) {
            $what = if ($Cmdlet -eq 'Get-Mailbox') { 'mailbox' } else { 'recipient' }
            return @{ ok = $false; final = $true; message = "No $what was found in Exchange Online for the $Role's address $Address; nothing was changed." }
        }
        return @{ ok = $false; message = "Looking up the $Role $Address failed: " + (Get-ExoErrorMessage $_) }
    }
    if ($found.Count -eq 0) {
        return @{ ok = $false; final = $true; message = "No recipient was found in Exchange Online for the $Role's address $Address; nothing was changed." }
    }
    if ($found.Count -gt 1) {
        return @{ ok = $false; message = "The $Role's address $Address matches $($found.Count) recipients in Exchange Online; expected exactly one. Nothing was changed." }
    }
    $person = ConvertTo-ExoSubject $found[0]
    if ($person.guid.Length -eq 0 -or $person.dn.Length -eq 0) {
        return @{ ok = $false; message = "Exchange returned the $Role $Address without its Guid or DistinguishedName; nothing was changed." }
    }
    $match = Get-ExoAddressMatch $found[0] $Address
    if ($match -eq 'secondary') {
        return @{ ok = $false; final = $true; message = "The $Role's address $Address is not the primary address of any recipient: it is a secondary address of $($person.label) ($(Format-ExoShown $person.type)). Nothing was changed; correct the $Role's email in SaaS Manager." }
    }
    if ($match -ne 'primary') {
        return @{ ok = $false; message = "The recipient Exchange found for the $Role's address $Address, $($person.label), does not have that address; nothing was changed." }
    }
    $person.ok = $true
    return $person
}

function ConvertTo-ExoSubject {
    param($Recipient)
    $guid = [string][ExoText]::Prop($Recipient, 'Guid')
    $primary = [string][ExoText]::Prop($Recipient, 'PrimarySmtpAddress')
    $displayName = [string][ExoText]::Prop($Recipient, 'DisplayName')
    if ($displayName.Length -eq 0) { $displayName = [string][ExoText]::Prop($Recipient, 'Name') }
    return @{
        guid        = $guid
        dn          = [string][ExoText]::Prop($Recipient, 'DistinguishedName')
        address     = [ExoText]::Limit($primary, 254)
        displayName = [ExoText]::Limit($displayName, 120)
        type        = [ExoText]::Limit([string][ExoText]::Prop($Recipient, 'RecipientTypeDetails'), 60)
        label       = [ExoText]::RecipientLabel($Recipient)
        # For the catalogue: the Name Exchange shows in links (ForwardingAddress, GrantSendOnBehalfTo) and
        # the object as Exchange returned it (its current properties are what the actions look at).
        name        = [string][ExoText]::Prop($Recipient, 'Name')
        raw         = $Recipient
    }
}

function ConvertTo-ExoSubjectView {
    param($Subject)
    return [ordered]@{ guid = $Subject.guid; address = $Subject.address; displayName = $Subject.displayName; type = $Subject.type }
}

function Get-ExoAddressMatch {
    # 'primary' (PrimarySmtpAddress or UserPrincipalName), 'secondary' (another SMTP proxy) or 'none'.
    param($Recipient, [string]$Address)
    foreach ($property in 'PrimarySmtpAddress', 'UserPrincipalName') {
        $value = Get-ExoProp $Recipient $property
        if ($null -ne $value -and [string]::Equals([string]$value, $Address, [System.StringComparison]::OrdinalIgnoreCase)) { return 'primary' }
    }
    $secondary = $false
    foreach ($proxy in @(Get-ExoProp $Recipient 'EmailAddresses')) {
        $text = [string]$proxy
        # Only SMTP proxies (SMTP: primary, smtp: secondary); X500, SIP and the like are not email addresses.
        if (-not $text.StartsWith('smtp:', [System.StringComparison]::OrdinalIgnoreCase)) { continue }
        if (-not [string]::Equals($text.Substring(5), $Address, [System.StringComparison]::OrdinalIgnoreCase)) { continue }
        if ($text.StartsWith('SMTP:', [System.StringComparison]::Ordinal)) { return 'primary' }
        $secondary = $true
    }
    if ($secondary) { return 'secondary' }
    return 'none'
}

function Test-ExoProtected {
    # EXO_PROTECTED_RECIPIENTS: no run may change these recipients or grant to them, nor to the direct
    # members of a group listed there. An entry Exchange does not know fails the run: the list must be
    # readable to be honoured.
    param($Run, $Action, $Policy, $Leaver, $Manager, $Extra = @())
    if ($Policy.protected.Count -eq 0) { return @{ ok = $true } }
    $subjects = [System.Collections.Generic.List[object]]::new()
    $subjects.Add(@{ role = 'leaver'; who = $Leaver })
    if ($null -ne $Manager) { $subjects.Add(@{ role = 'line manager'; who = $Manager }) }
    foreach ($item in $Extra) { $subjects.Add($item) }
    $groups = [System.Collections.Generic.Dictionary[string, object]]::new([System.StringComparer]::OrdinalIgnoreCase)
    foreach ($entry in $Policy.protected) {
        $protected = Get-ExoProtectedRecipient -Run $Run -Action $Action -Address $entry
        if (-not $protected.ok) { return $protected }
        foreach ($subject in $subjects) {
            if ([string]::Equals($subject.who.guid, $protected.guid, [System.StringComparison]::OrdinalIgnoreCase)) {
                return @{ ok = $false; final = $true; message = "The $($subject.role) $($subject.who.label) is a protected recipient (EXO_PROTECTED_RECIPIENTS lists $entry); no run may change it or grant to it. Nothing was changed." }
            }
        }
        if ($script:ProtectedGroupTypes -contains $protected.type) { $groups[$protected.guid] = @{ entry = $entry; group = $protected } }
    }
    if ($groups.Count -eq 0) { return @{ ok = $true } }
    foreach ($subject in $subjects) {
        $filter = "Members -eq '" + $subject.who.dn.Replace("'", "''") + "'"
        $holders = Invoke-ExoCmdlet -Run $Run -Action $Action -Name 'Get-Recipient' -Parameters ([ordered]@{ Filter = $filter; ResultSize = 'Unlimited' })
        foreach ($holder in $holders) {
            $hit = $null
            if ($groups.TryGetValue([string][ExoText]::Prop($holder, 'Guid'), [ref]$hit)) {
                return @{ ok = $false; final = $true; message = "The $($subject.role) $($subject.who.label) is a member of the protected group $($hit.group.label) (EXO_PROTECTED_RECIPIENTS lists $($hit.entry)); no run may change it or grant to it. Nothing was changed." }
            }
        }
    }
    return @{ ok = $true }
}

function Get-ExoProtectedRecipient {
    # Resolved once per session: the list is the same for every run of a sweep.
    param($Run, $Action, [string]$Address)
    $cached = $null
    if ($script:ProtectedCache.TryGetValue($Address, [ref]$cached)) { return $cached }
    $found = $null
    try {
        $found = Invoke-ExoCmdlet -Run $Run -Action $Action -Name 'Get-Recipient' -Parameters ([ordered]@{ Identity = $Address })
    } catch {
        if (Test-ExoNotFound $_) {
            return @{ ok = $false; message = "EXO_PROTECTED_RECIPIENTS lists $Address, which Exchange Online does not know; fix the setting. Nothing was changed (a run is not processed against a protected list that cannot be read)." }
        }
        return @{ ok = $false; message = "Looking up the protected recipient $Address failed: " + (Get-ExoErrorMessage $_) }
    }
    if ($found.Count -ne 1) {
        return @{ ok = $false; message = "EXO_PROTECTED_RECIPIENTS lists $Address, which matches $($found.Count) recipients in Exchange Online; list primary addresses. Nothing was changed." }
    }
    if ((Get-ExoAddressMatch $found[0] $Address) -eq 'none') {
        return @{ ok = $false; message = "EXO_PROTECTED_RECIPIENTS lists $Address, but the recipient Exchange found for it does not have that address; list primary addresses. Nothing was changed." }
    }
    $protected = ConvertTo-ExoSubject $found[0]
    $protected.ok = $true
    $script:ProtectedCache[$Address] = $protected
    return $protected
}

# ---------------------------------------------------------------------------------------------------------
# Actions: two phases (see /work/notes/action-contract.md and the README, "Run journal")
#
# Every action is a pair of functions registered in $script:ActionHandlers:
#   look  (required): reads what the action is about to change, changes nothing, and sets on $Action:
#           status  'planned' | 'already' | 'skipped' | 'failed', and detail (what it would do / why not);
#           before  the exact properties, permissions or memberships it is about to change (JSON-plain);
#           for 'planned': one Add-ExoPlannedChange per change cmdlet (the structured `changes` and the
#           exact command lines), _doneDetail (the detail once done) and _after (the state once done).
#  apply  (optional): performs $Look._planned and sets $Result status 'done' | 'failed', detail, after.
#           Without one, Invoke-ExoApplyPlanned runs every planned change in order (the first error fails
#           the action) and reports _doneDetail and _after.
# Keys starting with '_' stay inside this process ([ExoText]::Plain drops them).

$script:ActionHandlers = @{
    convertToShared              = @{ look = 'Get-ExoLookConvertToShared'; apply = $null }
    grantManagerFullAccess       = @{ look = 'Get-ExoLookGrantFullAccess'; apply = $null }
    grantManagerSendAs           = @{ look = 'Get-ExoLookGrantSendAs'; apply = $null }
    removeFromDistributionGroups = @{ look = 'Get-ExoLookRemoveFromGroups'; apply = 'Invoke-ExoApplyRemoveFromGroups' }
}

function Invoke-ExoActionLook {
    param($State, $Action)
    try {
        $handler = $script:ActionHandlers[$Action.name]
        $null = & $handler.look -State $State -Action $Action
    } catch {
        $Action._planned.Clear()
        Set-ExoActionStatus $Action 'failed' (Get-ExoErrorMessage $_)
    }
    $changes = [System.Collections.Generic.List[object]]::new()
    foreach ($change in $Action._planned) {
        $changes.Add([ordered]@{ cmdlet = $change.cmdlet; parameters = $change.parameters; line = $change.line })
    }
    $Action.changes = $changes
}

function Invoke-ExoActionApply {
    # Applies one looked action into $Result (a fresh action result). Only 'planned' actions get here.
    param($State, $Look, $Result)
    try {
        $handler = $script:ActionHandlers[$Look.name]
        if ($null -ne $handler.apply) { $null = & $handler.apply -State $State -Look $Look -Result $Result }
        else { Invoke-ExoApplyPlanned -State $State -Look $Look -Result $Result }
    } catch {
        Set-ExoActionStatus $Result 'failed' (Get-ExoErrorMessage $_)
        $Result.after = [ordered]@{ unknown = $true }
    }
}

function Invoke-ExoApplyPlanned {
    param($State, $Look, $Result)
    foreach ($change in $Look._planned) {
        $null = Invoke-ExoCmdlet -Run $State.run -Action $Result -Name $change.cmdlet -Parameters $change.bound
    }
    Set-ExoActionStatus $Result 'done' $Look._doneDetail
    $Result.after = $Look._after
}

function Add-ExoPlannedChange {
    # One change an action will make: kept as cmdlet + parameters for apply, shown as its exact command line.
    param($Action, [string]$Name, [System.Collections.IDictionary]$Parameters)
    $line = [ExoText]::CommandLine($Name, $Parameters)
    $Action.cmdlets.Add($line)
    $Action._planned.Add(@{ cmdlet = $Name; bound = $Parameters; parameters = [ExoText]::Plain($Parameters, 0); line = $line })
}

function Merge-ExoApplied {
    # The one-call path (Invoke-ExoRunPlan): the look's lookups, then what apply ran, in one result.
    param($Look, $Result)
    $lookups = $Look.cmdlets.Count - $Look._planned.Count
    $cmdlets = [System.Collections.Generic.List[string]]::new()
    for ($i = 0; $i -lt $lookups; $i++) { $cmdlets.Add($Look.cmdlets[$i]) }
    foreach ($line in $Result.cmdlets) { $cmdlets.Add($line) }
    $Look.cmdlets = $cmdlets
    foreach ($warning in $Result.warnings) { $Look.warnings.Add($warning) }
    $Look.status = $Result.status
    $Look.detail = $Result.detail
    $Look.after = $Result.after
}

function Get-ExoLookConvertToShared {
    param($State, $Action)
    $mailbox = $State.mailbox
    $Action.before = [ordered]@{ mailbox = $mailbox.guid; recipientTypeDetails = $mailbox.type }
    if ($mailbox.type -eq 'SharedMailbox') {
        Set-ExoActionStatus $Action 'already' "$($mailbox.label) is already a shared mailbox."
        return
    }
    if ($mailbox.type -ne 'UserMailbox') {
        Set-ExoActionStatus $Action 'failed' ("$($mailbox.label) is a " + (Format-ExoShown $mailbox.type) + ', not a user mailbox; only user mailboxes are converted to shared.')
        return
    }
    # Before converting: will the shared mailbox still need a licence? A warning, never a failure.
    Add-ExoSharedLicenceWarning -State $State -Action $Action
    Add-ExoPlannedChange -Action $Action -Name 'Set-Mailbox' -Parameters ([ordered]@{ Identity = $mailbox.guid; Type = 'Shared'; Confirm = [switch]$false })
    Set-ExoActionStatus $Action 'planned' "Would convert $($mailbox.label) to a shared mailbox."
    $Action._doneDetail = "Converted $($mailbox.label) to a shared mailbox."
    $Action._after = [ordered]@{ mailbox = $mailbox.guid; recipientTypeDetails = 'SharedMailbox' }
}

function Get-ExoLookGrantFullAccess {
    param($State, $Action)
    $manager = Get-ExoManager -State $State -Action $Action
    if ($null -eq $manager) { return }
    $mailbox = $State.mailbox
    $existing = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-MailboxPermission' -Parameters ([ordered]@{ Identity = $mailbox.guid; User = $manager.guid })
    $entries = [System.Collections.Generic.List[object]]::new()
    $has = $false
    foreach ($entry in $existing) {
        $rights = @([ExoText]::Prop($entry, 'AccessRights')) -join ', '
        $deny = ConvertTo-ExoBool (Get-ExoProp $entry 'Deny')
        $entries.Add([ordered]@{ accessRights = ([ExoText]::Limit($rights, 200)); deny = $deny; isInherited = (ConvertTo-ExoBool (Get-ExoProp $entry 'IsInherited')) })
        if ((Test-ExoRights (Get-ExoProp $entry 'AccessRights') 'FullAccess') -and -not $deny) { $has = $true }
    }
    $Action.before = [ordered]@{ mailbox = $mailbox.guid; trustee = $manager.guid; fullAccess = $has; entries = $entries }
    if ($has) {
        Set-ExoActionStatus $Action 'already' "$($manager.label) already has FullAccess to $($mailbox.label)."
        return
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
    Add-ExoPlannedChange -Action $Action -Name 'Add-MailboxPermission' -Parameters $parameters
    Set-ExoActionStatus $Action 'planned' "Would grant $($manager.label) FullAccess to $($mailbox.label) (AutoMapping $mapping)."
    $Action._doneDetail = "Granted $($manager.label) FullAccess to $($mailbox.label) (AutoMapping $mapping)."
    $Action._after = [ordered]@{ mailbox = $mailbox.guid; trustee = $manager.guid; fullAccess = $true; autoMapping = [bool]$State.autoMapping }
}

function Get-ExoLookGrantSendAs {
    param($State, $Action)
    $manager = Get-ExoManager -State $State -Action $Action
    if ($null -eq $manager) { return }
    $mailbox = $State.mailbox
    $existing = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-RecipientPermission' -Parameters ([ordered]@{ Identity = $mailbox.guid; Trustee = $manager.guid; AccessRights = 'SendAs' })
    $entries = [System.Collections.Generic.List[object]]::new()
    $has = $false
    foreach ($entry in $existing) {
        $allow = [string][ExoText]::Prop($entry, 'AccessControlType')
        $rights = @([ExoText]::Prop($entry, 'AccessRights')) -join ', '
        $entries.Add([ordered]@{ accessRights = ([ExoText]::Limit($rights, 200)); accessControlType = ([ExoText]::Limit($allow, 20)) })
        if ((Test-ExoRights (Get-ExoProp $entry 'AccessRights') 'SendAs') -and ($allow.Length -eq 0 -or $allow -eq 'Allow')) { $has = $true }
    }
    $Action.before = [ordered]@{ mailbox = $mailbox.guid; trustee = $manager.guid; sendAs = $has; entries = $entries }
    if ($has) {
        Set-ExoActionStatus $Action 'already' "$($manager.label) already has SendAs on $($mailbox.label)."
        return
    }
    $parameters = [ordered]@{ Identity = $mailbox.guid; Trustee = $manager.guid; AccessRights = 'SendAs'; Confirm = [switch]$false }
    Add-ExoPlannedChange -Action $Action -Name 'Add-RecipientPermission' -Parameters $parameters
    Set-ExoActionStatus $Action 'planned' "Would grant $($manager.label) SendAs on $($mailbox.label)."
    $Action._doneDetail = "Granted $($manager.label) SendAs on $($mailbox.label)."
    $Action._after = [ordered]@{ mailbox = $mailbox.guid; trustee = $manager.guid; sendAs = $true }
}

function Get-ExoLookRemoveFromGroups {
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
    $context = @{
        filter   = $filter
        planned  = [System.Collections.Generic.List[object]]::new()
        failures = [System.Collections.Generic.List[string]]::new()
        security = [System.Collections.Generic.List[string]]::new()
        unified  = [System.Collections.Generic.List[string]]::new()
        other    = [System.Collections.Generic.List[string]]::new()
    }
    $memberOf = [System.Collections.Generic.List[object]]::new()
    foreach ($group in $groups) {
        $label = [ExoText]::RecipientLabel($group)
        $type = [string][ExoText]::Prop($group, 'RecipientTypeDetails')
        $groupGuid = [string][ExoText]::Prop($group, 'Guid')
        $memberOf.Add([ordered]@{
                guid        = [ExoText]::Limit($groupGuid, 40)
                address     = [ExoText]::Limit([string][ExoText]::Prop($group, 'PrimarySmtpAddress'), 254)
                displayName = [ExoText]::Limit([string][ExoText]::Prop($group, 'DisplayName'), 120)
                type        = [ExoText]::Limit($type, 60)
            })
        if ($type -eq $script:SecurityGroupType) { $context.security.Add($label); continue }
        if ($type -eq $script:Microsoft365GroupType) { $context.unified.Add($label); continue }
        if ($type -ne $script:DistributionGroupType) { $context.other.Add($label); continue }
        if ($groupGuid.Length -eq 0) { $context.failures.Add("$label (Exchange returned no Guid)"); continue }
        Add-ExoPlannedChange -Action $Action -Name 'Remove-DistributionGroupMember' -Parameters ([ordered]@{
                Identity                        = $groupGuid
                Member                          = $mailbox.guid
                BypassSecurityGroupManagerCheck = [switch]$true
                Confirm                         = [switch]$false
            })
        $context.planned.Add(@{ guid = $groupGuid; label = $label })
    }
    $Action.before = [ordered]@{ member = $mailbox.guid; memberOf = $memberOf }
    $Action._groups = $context
    $plannedLabels = [System.Collections.Generic.List[string]]::new()
    foreach ($entry in $context.planned) { $plannedLabels.Add($entry.label) }
    $detail = Format-ExoGroupsDetail -Mailbox $mailbox -Context $context -Planned $plannedLabels
    if ($context.failures.Count -gt 0) { $status = 'failed' }
    elseif ($context.planned.Count -gt 0) { $status = 'planned' }
    else { $status = 'already' }
    Set-ExoActionStatus $Action $status $detail
}

function Invoke-ExoApplyRemoveFromGroups {
    param($State, $Look, $Result)
    $mailbox = $State.mailbox
    $context = $Look._groups
    $removed = [System.Collections.Generic.List[string]]::new()
    $removedGuids = [System.Collections.Generic.List[string]]::new()
    $notMember = [System.Collections.Generic.List[string]]::new()
    $failures = [System.Collections.Generic.List[string]]::new()
    $failedGuids = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::OrdinalIgnoreCase)
    for ($i = 0; $i -lt $Look._planned.Count; $i++) {
        $change = $Look._planned[$i]
        $group = $context.planned[$i]
        try {
            $null = Invoke-ExoCmdlet -Run $State.run -Action $Result -Name $change.cmdlet -Parameters $change.bound
            $removed.Add($group.label)
            $removedGuids.Add($group.guid)
        } catch {
            # Decided by what the error is (Exchange's MemberNotFoundException), never by its wording: someone
            # removed the member between the query and now, and the goal is met. Anything else is a failure.
            if (Test-ExoErrorIs $_ $script:NotMemberErrors) { $notMember.Add($group.label) }
            else {
                $failures.Add("$($group.label) ($(Get-ExoErrorMessage $_))")
                $null = $failedGuids.Add($group.guid)
            }
        }
    }
    # Ask again: the goal is "in no distribution group", and only Exchange's own answer shows it is met.
    $stillListed = [System.Collections.Generic.List[string]]::new()
    $afterGroups = [System.Collections.Generic.List[string]]::new()
    $observed = $false
    if (($removed.Count + $notMember.Count) -gt 0) {
        $after = Invoke-ExoCmdlet -Run $State.run -Action $Result -Name 'Get-Recipient' -Parameters ([ordered]@{
                Filter               = $context.filter
                RecipientTypeDetails = [string[]]@($script:DistributionGroupType)
                ResultSize           = 'Unlimited'
            })
        $observed = $true
        foreach ($group in $after) {
            $afterGroups.Add([string][ExoText]::Prop($group, 'Guid'))
            if ($failedGuids.Contains([string][ExoText]::Prop($group, 'Guid'))) { continue }
            $stillListed.Add([ExoText]::RecipientLabel($group))
        }
    }
    foreach ($failure in $context.failures) { $failures.Add($failure) }
    $detail = Format-ExoGroupsDetail -Mailbox $mailbox -Context $context -Removed $removed -Failures $failures -StillListed $stillListed -NotMember $notMember
    if ($failures.Count -gt 0 -or $stillListed.Count -gt 0) { $status = 'failed' }
    elseif ($removed.Count -gt 0) { $status = 'done' }
    else { $status = 'already' }
    Set-ExoActionStatus $Result $status $detail
    $Result.after = [ordered]@{ member = $mailbox.guid; removedFrom = $removedGuids; distributionGroups = $afterGroups; observed = $observed }
}

function Format-ExoGroupsDetail {
    param($Mailbox, $Context, $Planned = @(), $Removed = @(), $Failures = $null, $StillListed = @(), $NotMember = @())
    if ($null -eq $Failures) { $Failures = $Context.failures }
    $who = $Mailbox.label
    $parts = [System.Collections.Generic.List[string]]::new()
    if ($Removed.Count -gt 0) { $parts.Add("Removed $who from $(Format-ExoCount $Removed.Count 'distribution group'): " + ($Removed -join ', ') + '.') }
    if ($Planned.Count -gt 0) { $parts.Add("Would remove $who from $(Format-ExoCount $Planned.Count 'distribution group'): " + ($Planned -join ', ') + '.') }
    if ($Failures.Count -gt 0) { $parts.Add("Could not remove $who from $(Format-ExoCount $Failures.Count 'distribution group'): " + ($Failures -join '; ') + '.') }
    if ($StillListed.Count -gt 0) { $parts.Add("Exchange still lists $who as a member of $(Format-ExoCount $StillListed.Count 'distribution group') after the removal: " + ($StillListed -join ', ') + '.') }
    if ($Removed.Count + $Planned.Count + $Failures.Count + $NotMember.Count -eq 0) { $parts.Add("$who is not a member of any distribution group.") }
    if ($NotMember.Count -gt 0) { $parts.Add('Already removed from: ' + ($NotMember -join ', ') + '.') }
    if ($Context.security.Count -gt 0) { $parts.Add("Left alone (security-enabled): " + ($Context.security -join ', ') + '.') }
    if ($Context.unified.Count -gt 0) { $parts.Add("Left alone (Microsoft 365 group): " + ($Context.unified -join ', ') + '.') }
    if ($Context.other.Count -gt 0) { $parts.Add("Left alone (other group type): " + ($Context.other -join ', ') + '.') }
    return $parts -join ' '
}

function Get-ExoManager {
    # The line manager was resolved and checked with the leaver; no manager means the grant is skipped.
    param($State, $Action)
    # A delegate named by the run's variables (delegateTo) takes the manager's place.
    if ($null -ne $State.delegate) { return $State.delegate }
    if ($null -eq $State.manager) {
        Set-ExoActionStatus $Action 'skipped' 'The leaver has no line manager.'
        return $null
    }
    return $State.manager
}

# ---------------------------------------------------------------------------------------------------------
# Calling Exchange

function Invoke-ExoCmdlet {
    # Every Exchange call goes through here: recorded as an exact command line on the action, counted,
    # errors terminate (caught by the caller), warnings captured instead of printed.
    # Throttling (issue 14): a throttled call sleeps (Retry-After, else a doubling back-off) and is tried
    # again, at most $script:ThrottleAttempts times in all; each event is reported in the result's
    # `throttle` list for the adapter's governor, as are "Micro delay applied" warnings.
    param($Run, $Action, [string]$Name, [System.Collections.IDictionary]$Parameters)
    $Action.cmdlets.Add([ExoText]::CommandLine($Name, $Parameters))
    for ($attempt = 1; ; $attempt++) {
        $Run.cmdletCalls = $Run.cmdletCalls + 1
        $cmdletWarnings = $null
        $output = $null
        try {
            # @() inside: a cmdlet that returns nothing gives an empty array, not an array holding $null.
            $output = @(& $Name @Parameters -ErrorAction Stop -WarningAction SilentlyContinue -WarningVariable cmdletWarnings -InformationAction Ignore 6>$null)
            return , $output
        } catch {
            $waitMs = Get-ExoThrottleWait -ErrorRecord $_ -Attempt $attempt
            if ($waitMs -lt 0) { throw }
            $last = $attempt -ge $script:ThrottleAttempts
            Add-ExoThrottleEvent -Run $Run -Cmdlet $Name -Kind 'throttled' -WaitMs $(if ($last) { 0 } else { $waitMs }) -RetryAfterMs $waitMs -GaveUp $last
            if ($last) { throw }
            [System.Threading.Thread]::Sleep($waitMs)
        } finally {
            # Most calls warn nothing: two function calls fewer per cmdlet (a few percent of a session's CPU).
            if ($null -ne $cmdletWarnings -and $cmdletWarnings.Count -gt 0) {
                Add-ExoWarnings -List $Action.warnings -Records $cmdletWarnings
                Add-ExoMicroDelays -Run $Run -Cmdlet $Name -Records $cmdletWarnings
            }
        }
    }
}

function Get-ExoThrottleWait {
    # Milliseconds to wait before trying a throttled call again, or -1 when the error is not throttling.
    param([System.Management.Automation.ErrorRecord]$ErrorRecord, [int]$Attempt)
    $message = [string]$ErrorRecord.Exception.Message
    $isThrottle = (Test-ExoErrorIs $ErrorRecord $script:ThrottleErrors) -or [regex]::IsMatch($message, $script:ThrottlePattern)
    if (-not $isThrottle) { return -1 }
    $match = [regex]::Match($message, $script:RetryAfterPattern)
    if ($match.Success) {
        $value = [double]::Parse($match.Groups['n'].Value, [System.Globalization.CultureInfo]::InvariantCulture)
        $unit = $match.Groups['unit'].Value.ToLowerInvariant()
        $ms = if ($unit.StartsWith('m')) { $value } else { $value * 1000 }
    } else {
        $ms = $script:ThrottleBackoffMs * [math]::Pow(2, $Attempt - 1)
    }
    return [int][math]::Min([math]::Max($ms, 0), $script:ThrottleMaxWaitMs)
}

function Add-ExoThrottleEvent {
    param($Run, [string]$Cmdlet, [string]$Kind, [int]$WaitMs, [int]$RetryAfterMs, [bool]$GaveUp)
    if (-not $Run.Contains('throttle')) { $Run.throttle = [System.Collections.Generic.List[object]]::new() }
    if ($Run.throttle.Count -ge 100) { return }
    $Run.throttle.Add([ordered]@{ cmdlet = $Cmdlet; kind = $Kind; waitMs = $WaitMs; retryAfterMs = $RetryAfterMs; gaveUp = $GaveUp })
}

function Add-ExoMicroDelays {
    # "Micro delay applied. Actual delayed: 1234 msecs, ...": Exchange already slowed this call down.
    param($Run, [string]$Cmdlet, $Records)
    foreach ($record in @($Records)) {
        if ($null -eq $record) { continue }
        $message = if ($record -is [System.Management.Automation.WarningRecord]) { $record.Message } else { [string]$record }
        $match = [regex]::Match($message, 'Micro delay applied\.(?:\s*Actual delayed:\s*(?<ms>\d+)\s*msecs)?', 'IgnoreCase')
        if (-not $match.Success) { continue }
        $ms = if ($match.Groups['ms'].Success) { [int]$match.Groups['ms'].Value } else { 0 }
        Add-ExoThrottleEvent -Run $Run -Cmdlet $Cmdlet -Kind 'microDelay' -WaitMs $ms -RetryAfterMs 0 -GaveUp $false
    }
}

function Add-ExoPlannedCmdlet {
    param($Action, [string]$Name, [System.Collections.IDictionary]$Parameters)
    $Action.cmdlets.Add([ExoText]::CommandLine($Name, $Parameters))
}

function Add-ExoWarnings {
    param([System.Collections.Generic.List[string]]$List, $Records)
    foreach ($record in @($Records)) {
        if ($null -eq $record) { continue }
        $message = if ($record -is [System.Management.Automation.WarningRecord]) { $record.Message } else { [string]$record }
        $List.Add(([ExoText]::Limit($message, 1000)))
    }
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
        # The changes a look planned (Add-ExoPlannedChange); internal, never serialized.
        _planned = [System.Collections.Generic.List[object]]::new()
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
        $plain = [ExoText]::Plain($Result, 0)
        $line = [System.Text.Json.JsonSerializer]::Serialize($plain, [object], $script:JsonOptions)
    } catch {
        $line = '{"ok":false,"error":{"code":"SerializationFailed","message":"ExoActions could not serialize its result."}}'
    }
    [Console]::Out.WriteLine($line)
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
        try { $value = [ExoText]::FromJson($document.RootElement, 0) } finally { $document.Dispose() }
    } catch {
        throw (New-ExoException 'PayloadInvalid' 'The payload is not valid JSON.')
    }
    if ($value -isnot [System.Collections.IDictionary]) {
        throw (New-ExoException 'PayloadInvalid' 'The payload is not a JSON object.')
    }
    return $value
}

function Test-ExoAddress {
    param($Value)
    if ($Value -isnot [string]) { return $false }
    if ($Value.Length -lt 6 -or $Value.Length -gt $script:MaxAddressLength) { return $false }
    return [regex]::IsMatch($Value, $script:AddressPattern)
}

function Test-ExoNotFound {
    param([System.Management.Automation.ErrorRecord]$ErrorRecord)
    # A cmdlet missing from the session is also ObjectNotFound, but is not an unknown recipient.
    if ($ErrorRecord.Exception -is [System.Management.Automation.CommandNotFoundException]) { return $false }
    if (Test-ExoErrorIs $ErrorRecord $script:NotFoundErrors) { return $true }
    return $ErrorRecord.CategoryInfo.Category -eq [System.Management.Automation.ErrorCategory]::ObjectNotFound
}

function Test-ExoErrorIs {
    # True when the error is one of the named Exchange exception types: by the exception's type (or an inner
    # exception's), the CategoryInfo reason, or the FailureCategory in the FullyQualifiedErrorId
    # ("[FailureCategory=Cmdlet-MemberNotFoundException] ...") that Exchange Online's REST cmdlets report.
    param([System.Management.Automation.ErrorRecord]$ErrorRecord, [string[]]$Names)
    $ids = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::Ordinal)
    $exception = $ErrorRecord.Exception
    for ($depth = 0; $null -ne $exception -and $depth -lt 5; $depth++) {
        $null = $ids.Add($exception.GetType().Name)
        $exception = $exception.InnerException
    }
    $reason = [string]$ErrorRecord.CategoryInfo.Reason
    if ($reason.Length -gt 0) { $null = $ids.Add($reason) }
    $errorId = [string]$ErrorRecord.FullyQualifiedErrorId
    foreach ($match in [regex]::Matches($errorId, 'FailureCategory=[A-Za-z]+-([A-Za-z0-9_.]+)')) {
        $name = $match.Groups[1].Value
        $null = $ids.Add($name.Substring($name.LastIndexOf('.') + 1))
    }
    # An id of our own shape ("MemberNotFoundException,Remove-DistributionGroupMember").
    $null = $ids.Add($errorId.Split(',')[0].Trim())
    foreach ($name in $Names) { if ($ids.Contains($name)) { return $true } }
    return $false
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
    return [ExoText]::Prop($Object, $Name)
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
    return [ExoText]::Limit($message, 1000)
}

function Limit-ExoText {
    # One line, no control or format characters (ANSI escapes, bidi overrides), bounded length.
    param([string]$Text, [int]$Max = 300)
    return [ExoText]::Limit($Text, $Max)
}

function Format-ExoShown {
    # A hostile value shown in a message: cleaned and short.
    param([string]$Value)
    return [ExoText]::Limit($Value, 80)
}

function Format-ExoQuoted {
    param([string]$Value)
    return "'" + (Format-ExoShown $Value) + "'"
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

# The offboarding catalogue's actions (issue 15).
. ([System.IO.Path]::Combine($PSScriptRoot, 'ExoCatalogue.ps1'))
# A parse error there is only reported, not thrown: refuse to load without it. Asked of the function drive
# directly, not with Test-Path: that cmdlet's module (Microsoft.PowerShell.Management) would be loaded into
# every session for this alone, about 100 ms of CPU at each start.
if ($null -eq ${function:Get-ExoCatalogueLook}) { throw 'ExoActions could not load ExoCatalogue.ps1.' }
# Undo of a run (issue 17).
. ([System.IO.Path]::Combine($PSScriptRoot, 'ExoUndo.ps1'))
if ($null -eq ${function:Get-ExoUndoLookCore}) { throw 'ExoActions could not load ExoUndo.ps1.' }

Export-ModuleMember -Function Connect-ExoSession, Invoke-ExoRunPlan, Get-ExoRunLook, Invoke-ExoRunApply, Get-ExoUndoLook, Invoke-ExoUndoApply, Disconnect-ExoSession, Get-ExoStatus, Get-ExoProbe
