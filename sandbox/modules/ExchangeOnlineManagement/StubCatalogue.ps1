<#
  STUB cmdlets for the offboarding catalogue (issue 15), dot-sourced into ExchangeOnlineManagement.psm1 so
  they share its state, call log, faults and errors. Parameters follow Microsoft's parameter sets for the
  parameters an admin (and exo-workflow-sync) uses; behaviour follows Exchange Online where it matters:

    Get-MailboxStatistics           TotalItemSize as the REST module shows it: "1.5 GB (1,610,612,736 bytes)".
    Get/Set-MailboxAutoReplyConfiguration
                                    messages are stored wrapped in <html><body> as Exchange does; an
                                    unchanged configuration gives the "no settings modified" warning.
    Get/Set-CASMailbox              OWA, ActiveSync, POP, IMAP, EWS, MAPI switches; unchanged -> warning.
    Get-MobileDevice / Remove-MobileDevice
                                    partnerships per mailbox; removing is not wiping (the stub has no
                                    Clear-MobileDevice at all); an unknown device -> ManagementObjectNotFoundException.
    Get-InboxRule / Disable-InboxRule
                                    rules with ForwardTo, RedirectTo, ForwardAsAttachmentTo, DeleteMessage;
                                    disabling keeps the rule; an already disabled rule -> warning.
    Remove-CalendarEvents           -CancelOrganizedMeetings over -QueryWindowInDays (1..1825) from
                                    -QueryStartDate (default today); -PreviewOnly lists without cancelling.

  State per mailbox entry in tenant.json (all optional): autoReply { autoReplyState, internalMessage,
  externalMessage, externalAudience }, cas { owaEnabled, activeSyncEnabled, popEnabled, imapEnabled,
  ewsEnabled, mapiEnabled }, mobileDevices [ { guid, deviceId, friendlyName, deviceModel, deviceOS } ],
  inboxRules [ { ruleIdentity, name, enabled, forwardTo[], redirectTo[], forwardAsAttachmentTo[],
  deleteMessage, moveToFolder } ], calendarEvents [ { id, subject, start, end, isOrganizer, cancelled } ],
  totalItemSizeBytes, archiveStatus ('None' | 'Active'), inPlaceHolds [].
#>

$script:CasProtocols = [ordered]@{
    OWAEnabled        = 'owaEnabled'
    ActiveSyncEnabled = 'activeSyncEnabled'
    PopEnabled        = 'popEnabled'
    ImapEnabled       = 'imapEnabled'
    EwsEnabled        = 'ewsEnabled'
    MAPIEnabled       = 'mapiEnabled'
}
$script:MaxQueryWindowInDays = 1825

function Get-MailboxStatistics {
    [CmdletBinding(DefaultParameterSetName = 'Identity')]
    param(
        [Parameter(ParameterSetName = 'Identity', Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [switch]$Archive,
        [switch]$IncludeMoveHistory,
        [switch]$IncludeMoveReport,
        [switch]$IncludeSoftDeletedRecipients,
        [string[]]$Properties
    )
    $state = Enter-StubCmdlet -Name 'Get-MailboxStatistics' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $mailbox = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'mailbox' -CmdletName 'GetMailboxStatistics'
    if ($null -eq $mailbox) { return }
    if ($Archive -and [string]$mailbox['archiveStatus'] -ne 'Active') {
        Write-StubError $PSCmdlet "The mailbox '$($mailbox['name'])' doesn't have an archive." 'InvalidOperation' $Identity 'RecipientTaskException'
        return
    }
    $bytes = [long]0
    if ($null -ne $mailbox['totalItemSizeBytes']) { $bytes = [long]$mailbox['totalItemSizeBytes'] }
    [pscustomobject][ordered]@{
        DisplayName       = [string]$mailbox['displayName']
        MailboxGuid       = [string]$mailbox['exchangeGuid']
        ItemCount         = [long]($bytes / 50000)
        TotalItemSize     = Format-StubSize $bytes
        TotalDeletedItemSize = Format-StubSize 0
        MailboxTypeDetail = [string]$mailbox['recipientTypeDetails']
    }
}

function Format-StubSize {
    # As the REST module deserializes ByteQuantifiedSize: "1.5 GB (1,610,612,736 bytes)".
    param([long]$Bytes)
    $culture = [System.Globalization.CultureInfo]::InvariantCulture
    $units = @(@('GB', 1GB), @('MB', 1MB), @('KB', 1KB))
    $shown = "$Bytes B"
    foreach ($unit in $units) {
        if ($Bytes -ge $unit[1]) { $shown = ([math]::Round($Bytes / $unit[1], 2)).ToString($culture) + ' ' + $unit[0]; break }
    }
    return "$shown (" + $Bytes.ToString('N0', $culture) + ' bytes)'
}

# ---------------------------------------------------------------------------------------------------------
# Automatic replies

function Get-MailboxAutoReplyConfiguration {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [switch]$ReadFromDomainController,
        $ResultSize
    )
    $state = Enter-StubCmdlet -Name 'Get-MailboxAutoReplyConfiguration' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $mailbox = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'mailbox' -CmdletName 'GetMailboxAutoReplyConfiguration'
    if ($null -eq $mailbox) { return }
    $reply = Get-StubAutoReply $mailbox
    [pscustomobject][ordered]@{
        Identity         = [string]$mailbox['name']
        MailboxOwnerId   = [string]$mailbox['name']
        AutoReplyState   = [string]$reply['autoReplyState']
        InternalMessage  = [string]$reply['internalMessage']
        ExternalMessage  = [string]$reply['externalMessage']
        ExternalAudience = [string]$reply['externalAudience']
        StartTime        = $null
        EndTime          = $null
    }
}

function Set-MailboxAutoReplyConfiguration {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [ValidateSet('Disabled', 'Enabled', 'Scheduled')]
        [string]$AutoReplyState,
        [AllowEmptyString()][string]$InternalMessage,
        [AllowEmptyString()][string]$ExternalMessage,
        [ValidateSet('None', 'Known', 'All')]
        [string]$ExternalAudience,
        [datetime]$StartTime,
        [datetime]$EndTime,
        [switch]$CreateOOFEvent,
        [switch]$DeclineAllEventsForScheduledOOF,
        [switch]$DeclineEventsForScheduledOOF,
        [string]$OOFEventSubject
    )
    # The tenant lock taken for this change is released however the cmdlet ends.
    try {
    $state = Enter-StubCmdlet -Name 'Set-MailboxAutoReplyConfiguration' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $mailbox = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'mailbox' -CmdletName 'SetMailboxAutoReplyConfiguration'
    if ($null -eq $mailbox) { return }
    if ($AutoReplyState -eq 'Scheduled' -and -not ($PSBoundParameters.ContainsKey('StartTime') -and $PSBoundParameters.ContainsKey('EndTime'))) {
        Write-StubError $PSCmdlet 'The StartTime and EndTime parameters must be specified when AutoReplyState is Scheduled.' 'InvalidArgument' $Identity 'RecipientTaskException'
        return
    }
    $reply = Get-StubAutoReply $mailbox
    $changes = [System.Collections.Generic.List[object]]::new()
    if ($PSBoundParameters.ContainsKey('AutoReplyState') -and $reply['autoReplyState'] -ne $AutoReplyState) { $changes.Add(@('autoReplyState', $AutoReplyState)) }
    if ($PSBoundParameters.ContainsKey('ExternalAudience') -and $reply['externalAudience'] -ne $ExternalAudience) { $changes.Add(@('externalAudience', $ExternalAudience)) }
    foreach ($name in 'InternalMessage', 'ExternalMessage') {
        if (-not $PSBoundParameters.ContainsKey($name)) { continue }
        $key = $name.Substring(0, 1).ToLowerInvariant() + $name.Substring(1)
        $stored = ConvertTo-StubHtmlMessage ([string]$PSBoundParameters[$name])
        if ($reply[$key] -cne $stored) { $changes.Add(@($key, $stored)) }
    }
    if ($changes.Count -eq 0) {
        $PSCmdlet.WriteWarning("The command completed successfully but no settings of '$($mailbox['name'])' have been modified.")
        return
    }
    if ($PSCmdlet.ShouldProcess([string]$mailbox['name'], 'Set-MailboxAutoReplyConfiguration')) {
        foreach ($change in $changes) { $reply[$change[0]] = $change[1] }
        $mailbox['autoReply'] = $reply
        Save-StubState $state
    }
    } finally { Unlock-StubState }
}

function Get-StubAutoReply {
    param($Mailbox)
    $reply = $Mailbox['autoReply']
    if ($reply -isnot [System.Collections.IDictionary]) {
        $reply = New-StubTable
        $reply['autoReplyState'] = 'Disabled'
        $reply['internalMessage'] = ''
        $reply['externalMessage'] = ''
        $reply['externalAudience'] = 'All'
    }
    return , $reply
}

function ConvertTo-StubHtmlMessage {
    # Exchange keeps automatic replies as HTML: plain text comes back wrapped in <html><body>.
    param([string]$Message)
    if ($Message.Length -eq 0) { return '' }
    if ($Message.TrimStart().StartsWith('<html', [System.StringComparison]::OrdinalIgnoreCase)) { return $Message }
    return "<html>`n<body>`n$Message`n</body>`n</html>`n"
}

# ---------------------------------------------------------------------------------------------------------
# Client access protocols

function Get-CASMailbox {
    [CmdletBinding(DefaultParameterSetName = 'Identity')]
    param(
        [Parameter(ParameterSetName = 'Identity', Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [string]$Filter,
        $ResultSize,
        [switch]$ProtocolSettings
    )
    $state = Enter-StubCmdlet -Name 'Get-CASMailbox' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $mailbox = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'mailbox' -CmdletName 'GetCASMailbox'
    if ($null -eq $mailbox) { return }
    $cas = Get-StubCas $mailbox
    $object = [ordered]@{ Identity = [string]$mailbox['name']; PrimarySmtpAddress = [string]$mailbox['primarySmtpAddress'] }
    foreach ($name in $script:CasProtocols.Keys) { $object[$name] = [bool]$cas[$script:CasProtocols[$name]] }
    [pscustomobject]$object
}

function Set-CASMailbox {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [bool]$OWAEnabled,
        [bool]$ActiveSyncEnabled,
        [bool]$PopEnabled,
        [bool]$ImapEnabled,
        [bool]$EwsEnabled,
        [bool]$MAPIEnabled,
        [bool]$OWAforDevicesEnabled,
        [bool]$UniversalOutlookEnabled
    )
    # The tenant lock taken for this change is released however the cmdlet ends.
    try {
    $state = Enter-StubCmdlet -Name 'Set-CASMailbox' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $mailbox = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'mailbox' -CmdletName 'SetCASMailbox'
    if ($null -eq $mailbox) { return }
    $cas = Get-StubCas $mailbox
    $changes = [System.Collections.Generic.List[object]]::new()
    foreach ($name in $script:CasProtocols.Keys) {
        if (-not $PSBoundParameters.ContainsKey($name)) { continue }
        $key = $script:CasProtocols[$name]
        $value = [bool]$PSBoundParameters[$name]
        if ([bool]$cas[$key] -ne $value) { $changes.Add(@($key, $value)) }
    }
    if ($changes.Count -eq 0) {
        $PSCmdlet.WriteWarning("The command completed successfully but no settings of '$($mailbox['name'])' have been modified.")
        return
    }
    if ($PSCmdlet.ShouldProcess([string]$mailbox['name'], 'Set-CASMailbox')) {
        foreach ($change in $changes) { $cas[$change[0]] = $change[1] }
        $mailbox['cas'] = $cas
        Save-StubState $state
    }
    } finally { Unlock-StubState }
}

function Get-StubCas {
    # Every protocol is on for a new mailbox.
    param($Mailbox)
    $cas = $Mailbox['cas']
    if ($cas -isnot [System.Collections.IDictionary]) { $cas = New-StubTable }
    foreach ($key in $script:CasProtocols.Values) { if ($null -eq $cas[$key]) { $cas[$key] = $true } }
    return , $cas
}

# ---------------------------------------------------------------------------------------------------------
# Mobile devices

function Get-MobileDevice {
    [CmdletBinding(DefaultParameterSetName = 'Identity')]
    param(
        [Parameter(ParameterSetName = 'Identity', Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [Parameter(ParameterSetName = 'Mailbox', Mandatory)]
        $Mailbox,
        [switch]$ActiveSync,
        [string]$Filter,
        $ResultSize
    )
    $state = Enter-StubCmdlet -Name 'Get-MobileDevice' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    if ($PSCmdlet.ParameterSetName -eq 'Mailbox') {
        $owner = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Mailbox -Kind 'mailbox' -CmdletName 'GetMobileDevice'
        if ($null -eq $owner) { return }
        foreach ($device in (Get-StubList $owner 'mobileDevices')) { ConvertTo-StubDevice $owner $device }
        return
    }
    $found = Find-StubDevice $state $Identity
    if ($null -eq $found) { Write-StubNotFound $PSCmdlet $Identity 'GetMobileDevice'; return }
    ConvertTo-StubDevice $found.owner $found.device
}

function Remove-MobileDevice {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity
    )
    # The tenant lock taken for this change is released however the cmdlet ends.
    try {
    $state = Enter-StubCmdlet -Name 'Remove-MobileDevice' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $found = Find-StubDevice $state $Identity
    if ($null -eq $found) { Write-StubNotFound $PSCmdlet $Identity 'RemoveMobileDevice'; return }
    if ($PSCmdlet.ShouldProcess([string]$found.device['friendlyName'], 'Remove-MobileDevice')) {
        $null = (Get-StubList $found.owner 'mobileDevices').Remove($found.device)
        Save-StubState $state
    }
    } finally { Unlock-StubState }
}

function Find-StubDevice {
    # A device by its Guid or by Identity "<mailbox name>\ExchangeActiveSyncDevices\<deviceId>".
    param($State, $Identity)
    $text = [string]$Identity
    foreach ($owner in (Get-StubList $State 'mailboxes')) {
        foreach ($device in (Get-StubList $owner 'mobileDevices')) {
            if ([string]::Equals([string]$device['guid'], $text, [System.StringComparison]::OrdinalIgnoreCase) -or
                [string]::Equals((Get-StubDeviceIdentity $owner $device), $text, [System.StringComparison]::OrdinalIgnoreCase)) {
                return @{ owner = $owner; device = $device }
            }
        }
    }
    return $null
}

function Get-StubDeviceIdentity {
    param($Owner, $Device)
    return "$($Owner['name'])\ExchangeActiveSyncDevices\$($Device['deviceId'])"
}

function ConvertTo-StubDevice {
    param($Owner, $Device)
    [pscustomobject][ordered]@{
        Identity     = Get-StubDeviceIdentity $Owner $Device
        Guid         = [string]$Device['guid']
        DeviceId     = [string]$Device['deviceId']
        FriendlyName = [string]$Device['friendlyName']
        DeviceModel  = [string]$Device['deviceModel']
        DeviceOS     = [string]$Device['deviceOS']
        DeviceType   = [string]$Device['deviceType']
        ClientType   = 'EAS'
    }
}

# ---------------------------------------------------------------------------------------------------------
# Inbox rules

function Get-InboxRule {
    [CmdletBinding()]
    param(
        [Parameter(Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        $Mailbox,
        [switch]$BypassScopeCheck,
        [switch]$IncludeHidden,
        [switch]$SkipCount
    )
    $state = Enter-StubCmdlet -Name 'Get-InboxRule' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    if ($null -eq $Mailbox) {
        Write-StubError $PSCmdlet 'The Mailbox parameter is required for app-only access.' 'InvalidArgument' $Identity 'RecipientTaskException'
        return
    }
    $owner = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Mailbox -Kind 'mailbox' -CmdletName 'GetInboxRule'
    if ($null -eq $owner) { return }
    foreach ($rule in (Get-StubList $owner 'inboxRules')) {
        if ($null -ne $Identity -and -not (Test-StubRuleIdentity $owner $rule $Identity)) { continue }
        ConvertTo-StubRule $owner $rule
    }
}

function Disable-InboxRule {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        $Mailbox,
        [switch]$AlwaysDeleteOutlookRulesBlob,
        [switch]$Force
    )
    Set-StubInboxRuleEnabled -Cmdlet $PSCmdlet -Bound $PSBoundParameters -Identity $Identity -Mailbox $Mailbox -Enabled $false
}

function Set-StubInboxRuleEnabled {
    # Disable-InboxRule and Enable-InboxRule: the rule by identity in the mailbox -Mailbox names
    # (app-only access must name it); a rule already in that state gives Exchange's warning.
    param($Cmdlet, [System.Collections.IDictionary]$Bound, $Identity, $Mailbox, [bool]$Enabled)
    $verb = if ($Enabled) { 'Enable' } else { 'Disable' }
    # The tenant lock taken for this change is released however the cmdlet ends.
    try {
    $state = Enter-StubCmdlet -Name "$verb-InboxRule" -Bound $Bound -Cmdlet $Cmdlet -Data
    if ($null -eq $Mailbox) {
        Write-StubError $Cmdlet 'The Mailbox parameter is required for app-only access.' 'InvalidArgument' $Identity 'RecipientTaskException'
        return
    }
    $owner = Resolve-StubSingle -Cmdlet $Cmdlet -State $state -Identity $Mailbox -Kind 'mailbox' -CmdletName "$($verb)InboxRule"
    if ($null -eq $owner) { return }
    $rule = $null
    foreach ($candidate in (Get-StubList $owner 'inboxRules')) { if (Test-StubRuleIdentity $owner $candidate $Identity) { $rule = $candidate; break } }
    if ($null -eq $rule) { Write-StubNotFound $Cmdlet $Identity "$($verb)InboxRule"; return }
    if ([bool]$rule['enabled'] -eq $Enabled) {
        $Cmdlet.WriteWarning("The command completed successfully but no settings of '$(Get-StubRuleIdentity $owner $rule)' have been modified.")
        return
    }
    if ($Cmdlet.ShouldProcess([string]$rule['name'], "$verb-InboxRule")) {
        $rule['enabled'] = $Enabled
        Save-StubState $state
    }
    } finally { Unlock-StubState }
}

function Get-StubRuleIdentity {
    param($Owner, $Rule)
    return "$($Owner['name'])\$($Rule['ruleIdentity'])"
}

function Test-StubRuleIdentity {
    # A rule by "<mailbox>\<RuleIdentity>", by its RuleIdentity number or by its name.
    param($Owner, $Rule, $Identity)
    $text = [string]$Identity
    foreach ($value in (Get-StubRuleIdentity $Owner $Rule), [string]$Rule['ruleIdentity'], [string]$Rule['name']) {
        if ([string]::Equals($value, $text, [System.StringComparison]::OrdinalIgnoreCase)) { return $true }
    }
    return $false
}

function ConvertTo-StubRule {
    param($Owner, $Rule)
    [pscustomobject][ordered]@{
        Identity              = Get-StubRuleIdentity $Owner $Rule
        RuleIdentity          = [string]$Rule['ruleIdentity']
        Name                  = [string]$Rule['name']
        Enabled               = [bool]$Rule['enabled']
        Priority              = [int]1
        ForwardTo             = [string[]]@(Get-StubList $Rule 'forwardTo')
        ForwardAsAttachmentTo = [string[]]@(Get-StubList $Rule 'forwardAsAttachmentTo')
        RedirectTo            = [string[]]@(Get-StubList $Rule 'redirectTo')
        DeleteMessage         = [bool]$Rule['deleteMessage']
        MoveToFolder          = [string]$Rule['moveToFolder']
        MailboxOwnerId        = [string]$Owner['name']
    }
}

# ---------------------------------------------------------------------------------------------------------
# Calendar

function Remove-CalendarEvents {
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        $Identity,
        [switch]$CancelOrganizedMeetings,
        [datetime]$QueryStartDate,
        [Parameter(Mandatory)]
        [ValidateRange(1, 1825)]
        [int]$QueryWindowInDays,
        [switch]$PreviewOnly,
        [switch]$UseCustomRouting
    )
    # The tenant lock taken for this change is released however the cmdlet ends.
    try {
    $state = Enter-StubCmdlet -Name 'Remove-CalendarEvents' -Bound $PSBoundParameters -Cmdlet $PSCmdlet -Data
    $mailbox = Resolve-StubSingle -Cmdlet $PSCmdlet -State $state -Identity $Identity -Kind 'mailbox' -CmdletName 'RemoveCalendarEvents'
    if ($null -eq $mailbox) { return }
    if (-not $CancelOrganizedMeetings) {
        Write-StubError $PSCmdlet 'Specify CancelOrganizedMeetings: only meetings the mailbox organizes can be cancelled.' 'InvalidArgument' $Identity 'RecipientTaskException'
        return
    }
    $start = if ($PSBoundParameters.ContainsKey('QueryStartDate')) { $QueryStartDate.ToUniversalTime() } else { [datetime]::UtcNow.Date }
    $end = $start.AddDays($QueryWindowInDays)
    $hits = [System.Collections.Generic.List[object]]::new()
    foreach ($event in (Get-StubList $mailbox 'calendarEvents')) {
        if ([bool]$event['cancelled'] -or -not [bool]$event['isOrganizer']) { continue }
        $when = [datetime]::Parse([string]$event['start'], [System.Globalization.CultureInfo]::InvariantCulture, [System.Globalization.DateTimeStyles]::AdjustToUniversal -bor [System.Globalization.DateTimeStyles]::AssumeUniversal)
        if ($when -lt $start -or $when -ge $end) { continue }
        $hits.Add($event)
    }
    foreach ($event in $hits) {
        [pscustomobject][ordered]@{
            Subject = [string]$event['subject']
            Start   = [string]$event['start']
            End     = [string]$event['end']
            Id      = [string]$event['id']
        }
    }
    if ($PreviewOnly -or $hits.Count -eq 0) { return }
    if ($PSCmdlet.ShouldProcess([string]$mailbox['name'], "Remove-CalendarEvents ($($hits.Count) meetings)")) {
        foreach ($event in $hits) { $event['cancelled'] = $true }
        Save-StubState $state
    }
    } finally { Unlock-StubState }
}
