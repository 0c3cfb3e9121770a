<#
  ExoCatalogue: the offboarding catalogue's actions (issue 15), dot-sourced into ExoActions.psm1 and
  registered in its $script:ActionHandlers (look: Get-ExoCatalogueLook, apply: Invoke-ExoCatalogueApply),
  with the same state, calls and result shape as the four basic actions.

  Every action has two halves:
    look   read-only: reads the current state, records it as the action's `before` image (exactly the
           properties, permissions or items it is about to change, JSON-plain) and lists the changes as
           (cmdlet, parameters) pairs; nothing to change means 'already' (or 'skipped' / 'failed').
    apply  runs the listed changes; each is idempotent (an item that vanished meanwhile counts as done).
  A dry run (whatIf) is the look alone: the change cmdlets are reported, never called (cancelMeetings'
  look is Remove-CalendarEvents -PreviewOnly, which lists the meetings without cancelling them).

  Every value placed in a parameter is data: run variables and templates arrive already validated and
  HTML-encoded by the planner, are checked again here, and only ever bind to cmdlet parameters. Every
  change targets an object Exchange returned (a mailbox's Guid, a device's Guid, a rule's Identity).
#>

$script:CatalogueActions = [string[]]@(
    'hideFromAddressLists', 'setAutoReply', 'forwardToManager', 'grantManagerSendOnBehalf', 'disableProtocols',
    'removeMobileDevices', 'disableInboxRules', 'cancelMeetings', 'litigationHold'
)
$script:CatalogueCmdlets = [string[]]@(
    'Get-MailboxStatistics', 'Get-MailboxAutoReplyConfiguration', 'Set-MailboxAutoReplyConfiguration', 'Get-CASMailbox',
    'Set-CASMailbox', 'Get-MobileDevice', 'Remove-MobileDevice', 'Get-InboxRule', 'Disable-InboxRule', 'Remove-CalendarEvents'
)
# Protocol names in profiles -> Set-CASMailbox parameters.
$script:ProtocolParameters = [ordered]@{ OWA = 'OWAEnabled'; ActiveSync = 'ActiveSyncEnabled'; POP = 'PopEnabled'; IMAP = 'ImapEnabled'; EWS = 'EwsEnabled' }
$script:DefaultProtocols = [string[]]@('OWA', 'ActiveSync', 'POP', 'IMAP')
$script:MaxAutoReplyLength = 8000
$script:MaxMeetingWindowDays = 1825
$script:MaxHoldDays = 36500
# A shared mailbox needs no licence only up to 50 GB, without an archive and without any hold.
$script:SharedMailboxFreeBytes = 50GB
$script:EmptyGuid = '00000000-0000-0000-0000-000000000000'

# The two phases (see /work/notes/action-contract.md): every catalogue action is registered with the
# generic look below (which calls the action's own Get-ExoLook* function) and the catalogue's apply.
$script:CatalogueLooks = @{
    hideFromAddressLists     = 'Get-ExoLookHide'
    setAutoReply             = 'Get-ExoLookAutoReply'
    forwardToManager         = 'Get-ExoLookForwarding'
    grantManagerSendOnBehalf = 'Get-ExoLookSendOnBehalf'
    disableProtocols         = 'Get-ExoLookProtocols'
    removeMobileDevices      = 'Get-ExoLookDevices'
    disableInboxRules        = 'Get-ExoLookInboxRules'
    cancelMeetings           = 'Get-ExoLookMeetings'
    litigationHold           = 'Get-ExoLookHold'
}
foreach ($catalogueAction in $script:CatalogueActions) {
    $script:ActionHandlers[$catalogueAction] = @{ look = 'Get-ExoCatalogueLook'; apply = 'Invoke-ExoCatalogueApply' }
}

function Get-ExoCatalogueLook {
    # look: the action's own look reads and decides; its changes become the planned changes (exact lines).
    param($State, $Action)
    $look = & $script:CatalogueLooks[$Action.name] -State $State -Action $Action
    $Action.before = if ($null -ne $look.before) { $look.before } else { [ordered]@{ mailbox = $State.mailbox.guid } }
    if ($look.changes.Count -eq 0) {
        Set-ExoActionStatus $Action $look.status $look.detail
        return
    }
    foreach ($change in $look.changes) { Add-ExoPlannedChange -Action $Action -Name $change.cmdlet -Parameters $change.parameters }
    Set-ExoActionStatus $Action 'planned' $look.planned
    $Action._doneDetail = $look.done
    $Action._after = $look.after
    $Action._catalogue = $look
}

function Invoke-ExoCatalogueApply {
    # apply: every planned change in order; an item that vanished since the look (a device already
    # removed, a rule already deleted) counts as done; other errors fail the action after the rest ran.
    param($State, $Look, $Result)
    $changes = $Look._catalogue.changes
    $failures = [System.Collections.Generic.List[string]]::new()
    $gone = [System.Collections.Generic.List[string]]::new()
    for ($i = 0; $i -lt $Look._planned.Count; $i++) {
        $planned = $Look._planned[$i]
        $change = $changes[$i]
        try {
            $null = Invoke-ExoCmdlet -Run $State.run -Action $Result -Name $planned.cmdlet -Parameters $planned.bound
        } catch {
            if ($change.goneIsDone -and (Test-ExoNotFound $_)) { $gone.Add($change.label) }
            else {
                $label = if ($change.label.Length -gt 0) { "$($change.label): " } else { '' }
                $failures.Add($label + (Get-ExoErrorMessage $_))
            }
        }
    }
    if ($failures.Count -gt 0) {
        Set-ExoActionStatus $Result 'failed' ('Could not finish: ' + ($failures -join '; ') + '. Intended: ' + $Look._catalogue.planned)
        $Result.after = [ordered]@{ unknown = $true }
        return
    }
    $detail = $Look._doneDetail
    if ($gone.Count -gt 0) { $detail = "$detail Already gone: " + ($gone -join ', ') + '.' }
    Set-ExoActionStatus $Result 'done' $detail
    $Result.after = $Look._after
}

function New-ExoLook {
    # What a look found: nothing to do (status, detail) or the changes with the texts for a dry run and for done.
    param([string]$Status = 'already', [string]$Detail = '', $Before = $null)
    return @{
        status  = $Status
        detail  = $Detail
        before  = $Before
        changes = [System.Collections.Generic.List[object]]::new()
        planned = ''
        done    = ''
        after   = $null
    }
}

function Add-ExoChange {
    param($Look, [string]$Cmdlet, [System.Collections.IDictionary]$Parameters, [string]$Label = '', [switch]$GoneIsDone)
    $Look.changes.Add(@{ cmdlet = $Cmdlet; parameters = $Parameters; label = $Label; goneIsDone = [bool]$GoneIsDone })
}

function Get-ExoOption {
    param($State, [string]$Name)
    $options = $State.options
    if ($options -isnot [System.Collections.IDictionary]) { return $null }
    return $options[$Name]
}

function Get-ExoWholeNumber {
    # A JSON number that is a whole number within range, or $null.
    param($Value, [int]$Min, [int]$Max)
    if ($Value -isnot [double] -and $Value -isnot [int] -and $Value -isnot [long]) { return $null }
    $number = [double]$Value
    if ($number -ne [math]::Floor($number) -or $number -lt $Min -or $number -gt $Max) { return $null }
    return [int]$number
}

function Test-ExoSameRecipient {
    # Whether a value Exchange shows for a recipient link (its Name, or DN, Guid, address) is this subject.
    param($Value, $Subject)
    $text = [string]$Value
    if ($text.Length -eq 0) { return $false }
    foreach ($candidate in $Subject.guid, $Subject.dn, $Subject.address, $Subject.name, $Subject.displayName) {
        if ([string]::Equals($text, [string]$candidate, [System.StringComparison]::OrdinalIgnoreCase)) { return $true }
    }
    return $false
}

# ---------------------------------------------------------------------------------------------------------
# hideFromAddressLists: Set-Mailbox -HiddenFromAddressListsEnabled $true

function Get-ExoLookHide {
    param($State, $Action)
    $mailbox = $State.mailbox
    $hidden = ConvertTo-ExoBool (Get-ExoProp $mailbox.raw 'HiddenFromAddressListsEnabled')
    $look = New-ExoLook -Detail "$($mailbox.label) is already hidden from the address lists." -Before ([ordered]@{ mailbox = $mailbox.guid; hiddenFromAddressListsEnabled = $hidden })
    if ($hidden) { return $look }
    $look.after = [ordered]@{ mailbox = $mailbox.guid; hiddenFromAddressListsEnabled = $true }
    Add-ExoChange $look 'Set-Mailbox' ([ordered]@{ Identity = $mailbox.guid; HiddenFromAddressListsEnabled = $true; Confirm = [switch]$false })
    $look.planned = "Would hide $($mailbox.label) from the address lists (the GAL and Outlook's address book)."
    $look.done = "Hid $($mailbox.label) from the address lists (the GAL and Outlook's address book)."
    return $look
}

# ---------------------------------------------------------------------------------------------------------
# setAutoReply: Set-MailboxAutoReplyConfiguration -AutoReplyState Enabled

function Get-ExoLookAutoReply {
    param($State, $Action)
    $mailbox = $State.mailbox
    $wanted = Get-ExoOption $State 'autoReply'
    if ($wanted -isnot [System.Collections.IDictionary]) { return New-ExoLook 'failed' 'The run has no auto-reply messages; nothing was changed.' }
    $internal = $wanted['internalMessage']
    $external = $wanted['externalMessage']
    $audience = $wanted['externalAudience']
    foreach ($message in $internal, $external) {
        if ($message -isnot [string] -or $message.Length -eq 0 -or $message.Length -gt $script:MaxAutoReplyLength) {
            return New-ExoLook 'failed' "The auto-reply messages must be text of 1 to $($script:MaxAutoReplyLength) characters; nothing was changed."
        }
    }
    if (@('None', 'Known', 'All') -cnotcontains $audience) { return New-ExoLook 'failed' 'The auto-reply external audience must be None, Known or All; nothing was changed.' }

    $current = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-MailboxAutoReplyConfiguration' -Parameters ([ordered]@{ Identity = $mailbox.guid })
    $config = if ($current.Count -gt 0) { $current[0] } else { $null }
    $before = [ordered]@{
        mailbox          = $mailbox.guid
        autoReplyState   = [string][ExoText]::Prop($config, 'AutoReplyState')
        internalMessage  = [string][ExoText]::Prop($config, 'InternalMessage')
        externalMessage  = [string][ExoText]::Prop($config, 'ExternalMessage')
        externalAudience = [string][ExoText]::Prop($config, 'ExternalAudience')
    }
    $look = New-ExoLook -Detail "$($mailbox.label) already has this automatic reply on (external audience $audience)." -Before $before
    $same = $before.autoReplyState -eq 'Enabled' -and $before.externalAudience -eq $audience -and
        (Get-ExoMessageBody $before.internalMessage) -ceq (Get-ExoMessageBody $internal) -and
        (Get-ExoMessageBody $before.externalMessage) -ceq (Get-ExoMessageBody $external)
    if ($same) { return $look }
    $look.after = [ordered]@{ mailbox = $mailbox.guid; autoReplyState = 'Enabled'; internalMessage = $internal; externalMessage = $external; externalAudience = $audience }
    Add-ExoChange $look 'Set-MailboxAutoReplyConfiguration' ([ordered]@{
            Identity         = $mailbox.guid
            AutoReplyState   = 'Enabled'
            InternalMessage  = $internal
            ExternalMessage  = $external
            ExternalAudience = $audience
            Confirm          = [switch]$false
        })
    $was = if ($before.autoReplyState.Length -gt 0) { " (was $(Format-ExoShown $before.autoReplyState))" } else { '' }
    $look.planned = "Would turn on the automatic reply of $($mailbox.label)$was for internal senders and external audience $audience."
    $look.done = "Turned on the automatic reply of $($mailbox.label)$was for internal senders and external audience $audience."
    return $look
}

function Get-ExoMessageBody {
    # Exchange stores automatic replies as HTML and wraps plain text in <html><body>: compare the body only.
    param([string]$Message)
    $text = [regex]::Replace($Message, '\A\s*<html[^>]*>\s*(?:<head>.*?</head>\s*)?<body[^>]*>', '', [System.Text.RegularExpressions.RegexOptions]::IgnoreCase -bor [System.Text.RegularExpressions.RegexOptions]::Singleline)
    $text = [regex]::Replace($text, '</body>\s*</html>\s*\z', '', [System.Text.RegularExpressions.RegexOptions]::IgnoreCase)
    return $text.Trim()
}

# ---------------------------------------------------------------------------------------------------------
# forwardToManager: Set-Mailbox -ForwardingAddress <internal UserMailbox> -DeliverToMailboxAndForward $true

function Get-ExoLookForwarding {
    param($State, $Action)
    $mailbox = $State.mailbox
    $target = if ($null -ne $State.forwardTo) { $State.forwardTo } else { $State.manager }
    if ($null -eq $target) { return New-ExoLook 'skipped' 'The leaver has no line manager to forward to.' }
    # Forwarding only ever goes to a person's mailbox in this tenant (resolved by primary address as a
    # UserMailbox before any change), never to an external address.
    if ($target.type -ne 'UserMailbox') { return New-ExoLook 'failed' "$($target.label) is not a user mailbox in this organization; mail is only forwarded to an internal user mailbox." }
    $keepCopy = Get-ExoOption $State 'deliverToMailboxAndForward'
    $keepCopy = if ($keepCopy -is [bool]) { $keepCopy } else { $true }
    $raw = $mailbox.raw
    $before = [ordered]@{
        mailbox                    = $mailbox.guid
        # As Exchange shows the link (the target's Name); restore by that identity.
        forwardingAddress          = [string][ExoText]::Prop($raw, 'ForwardingAddress')
        forwardingSmtpAddress      = [string][ExoText]::Prop($raw, 'ForwardingSmtpAddress')
        deliverToMailboxAndForward = ConvertTo-ExoBool (Get-ExoProp $raw 'DeliverToMailboxAndForward')
    }
    $copy = if ($keepCopy) { 'keeping a copy in the mailbox' } else { 'without keeping a copy' }
    $look = New-ExoLook -Detail "Mail to $($mailbox.label) is already forwarded to $($target.label) ($copy)." -Before $before
    $parameters = [ordered]@{ Identity = $mailbox.guid; ForwardingAddress = $target.guid; DeliverToMailboxAndForward = $keepCopy }
    $external = $before.forwardingSmtpAddress.Length -gt 0
    # An existing forward to an SMTP address (possibly outside the tenant) is cleared: ours replaces it.
    if ($external) { $parameters.ForwardingSmtpAddress = $null }
    $parameters.Confirm = [switch]$false
    if ((Test-ExoSameRecipient $before.forwardingAddress $target) -and $before.deliverToMailboxAndForward -eq $keepCopy -and -not $external) { return $look }
    Add-ExoChange $look 'Set-Mailbox' $parameters
    $look.after = [ordered]@{ mailbox = $mailbox.guid; forwardingAddress = $target.guid; forwardingSmtpAddress = ''; deliverToMailboxAndForward = $keepCopy }
    $cleared = if ($external) { ' and clear its forward to ' + (Format-ExoQuoted $before.forwardingSmtpAddress) } else { '' }
    $look.planned = "Would forward mail to $($mailbox.label) to $($target.label) ($copy)$cleared."
    $look.done = "Forwarded mail to $($mailbox.label) to $($target.label) ($copy)$($cleared -replace '\A and clear', ' and cleared')."
    return $look
}

# ---------------------------------------------------------------------------------------------------------
# grantManagerSendOnBehalf: Set-Mailbox -GrantSendOnBehalfTo @{Add=<manager>}

function Get-ExoLookSendOnBehalf {
    param($State, $Action)
    $mailbox = $State.mailbox
    $target = if ($null -ne $State.delegate) { $State.delegate } else { $State.manager }
    if ($null -eq $target) { return New-ExoLook 'skipped' 'The leaver has no line manager.' }
    $holders = [string[]]@(foreach ($holder in @(Get-ExoProp $mailbox.raw 'GrantSendOnBehalfTo')) { if ($null -ne $holder) { [string]$holder } })
    $look = New-ExoLook -Detail "$($target.label) can already send on behalf of $($mailbox.label)." -Before ([ordered]@{ mailbox = $mailbox.guid; trustee = $target.guid; grantSendOnBehalfTo = $holders })
    foreach ($holder in $holders) { if (Test-ExoSameRecipient $holder $target) { return $look } }
    Add-ExoChange $look 'Set-Mailbox' ([ordered]@{ Identity = $mailbox.guid; GrantSendOnBehalfTo = [ordered]@{ Add = $target.guid }; Confirm = [switch]$false })
    $look.after = [ordered]@{ mailbox = $mailbox.guid; trustee = $target.guid; added = $true }
    $look.planned = "Would let $($target.label) send on behalf of $($mailbox.label)."
    $look.done = "Let $($target.label) send on behalf of $($mailbox.label)."
    return $look
}

# ---------------------------------------------------------------------------------------------------------
# disableProtocols: Set-CASMailbox -OWAEnabled $false ...

function Get-ExoLookProtocols {
    param($State, $Action)
    $mailbox = $State.mailbox
    $names = Get-ExoOption $State 'protocols'
    if ($null -eq $names) { $names = $script:DefaultProtocols }
    $chosen = [System.Collections.Generic.List[string]]::new()
    foreach ($name in @($names)) {
        if ($name -isnot [string] -or -not $script:ProtocolParameters.Contains($name)) {
            return New-ExoLook 'failed' ('Unknown protocol ' + (Format-ExoQuoted ([string]$name)) + ' (known: ' + ($script:ProtocolParameters.Keys -join ', ') + '); nothing was changed.')
        }
        if (-not $chosen.Contains($name)) { $chosen.Add($name) }
    }
    $current = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-CASMailbox' -Parameters ([ordered]@{ Identity = $mailbox.guid })
    $cas = if ($current.Count -gt 0) { $current[0] } else { $null }
    $before = [ordered]@{ mailbox = $mailbox.guid }
    $after = [ordered]@{ mailbox = $mailbox.guid }
    $parameters = [ordered]@{ Identity = $mailbox.guid }
    $turnOff = [System.Collections.Generic.List[string]]::new()
    foreach ($name in $chosen) {
        $parameter = $script:ProtocolParameters[$name]
        $enabled = ConvertTo-ExoBool (Get-ExoProp $cas $parameter)
        $before[$parameter] = $enabled
        $after[$parameter] = $false
        if ($enabled) { $parameters[$parameter] = $false; $turnOff.Add($name) }
    }
    $look = New-ExoLook -Detail ("$($mailbox.label) already has " + ($chosen -join ', ') + ' turned off.') -Before $before
    if ($turnOff.Count -eq 0) { return $look }
    $parameters.Confirm = [switch]$false
    Add-ExoChange $look 'Set-CASMailbox' $parameters
    $look.after = $after
    $look.planned = "Would turn off " + ($turnOff -join ', ') + " for $($mailbox.label)."
    $look.done = "Turned off " + ($turnOff -join ', ') + " for $($mailbox.label)."
    return $look
}

# ---------------------------------------------------------------------------------------------------------
# removeMobileDevices: Get-MobileDevice -Mailbox, then Remove-MobileDevice each (a partnership removal, never a wipe)

function Get-ExoLookDevices {
    param($State, $Action)
    $mailbox = $State.mailbox
    $devices = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-MobileDevice' -Parameters ([ordered]@{ Mailbox = $mailbox.guid })
    $seen = [System.Collections.Generic.List[object]]::new()
    $labels = [System.Collections.Generic.List[string]]::new()
    $look = New-ExoLook -Detail "$($mailbox.label) has no mobile devices." -Before ([ordered]@{ mailbox = $mailbox.guid; mobileDevices = $seen })
    foreach ($device in $devices) {
        $guid = [string][ExoText]::Prop($device, 'Guid')
        $label = Format-ExoDeviceLabel $device
        $seen.Add([ordered]@{
                guid         = [ExoText]::Limit($guid, 40)
                deviceId     = [ExoText]::Limit([string][ExoText]::Prop($device, 'DeviceId'), 120)
                friendlyName = [ExoText]::Limit([string][ExoText]::Prop($device, 'FriendlyName'), 120)
                deviceModel  = [ExoText]::Limit([string][ExoText]::Prop($device, 'DeviceModel'), 120)
                deviceOS     = [ExoText]::Limit([string][ExoText]::Prop($device, 'DeviceOS'), 120)
            })
        $parsed = [guid]::Empty
        if (-not [guid]::TryParse($guid, [ref]$parsed)) {
            return New-ExoLook 'failed' "Exchange returned the mobile device $label without a Guid; nothing was changed." $look.before
        }
        $labels.Add($label)
        Add-ExoChange $look 'Remove-MobileDevice' ([ordered]@{ Identity = $parsed.ToString(); Confirm = [switch]$false }) -Label $label -GoneIsDone
    }
    $list = $labels -join ', '
    $look.after = [ordered]@{ mailbox = $mailbox.guid; mobileDevices = @() }
    $look.planned = "Would remove $(Format-ExoCount $labels.Count 'mobile device') from $($mailbox.label) (the partnership only, no wipe): $list."
    $look.done = "Removed $(Format-ExoCount $labels.Count 'mobile device') from $($mailbox.label) (the partnership only, no wipe): $list."
    return $look
}

function Format-ExoDeviceLabel {
    param($Device)
    $name = [ExoText]::Limit([string][ExoText]::Prop($Device, 'FriendlyName'), 60)
    if ($name.Length -eq 0) { $name = [ExoText]::Limit([string][ExoText]::Prop($Device, 'DeviceModel'), 60) }
    $details = @(foreach ($property in 'DeviceModel', 'DeviceOS', 'DeviceId') {
            $value = [ExoText]::Limit([string][ExoText]::Prop($Device, $property), 60)
            if ($value.Length -gt 0 -and $value -ne $name) { $value }
        }) -join ', '
    if ($details.Length -gt 0) { return "'$name' ($details)" }
    return "'$name'"
}

# ---------------------------------------------------------------------------------------------------------
# disableInboxRules: Get-InboxRule -Mailbox, then Disable-InboxRule for each enabled rule in scope

function Get-ExoLookInboxRules {
    param($State, $Action)
    $mailbox = $State.mailbox
    $scope = Get-ExoOption $State 'inboxRuleScope'
    if ($null -eq $scope) { $scope = 'forwardingOrDeleting' }
    if (@('forwardingOrDeleting', 'all') -cnotcontains $scope) { return New-ExoLook 'failed' 'The inbox rule scope must be forwardingOrDeleting or all; nothing was changed.' }
    $rules = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-InboxRule' -Parameters ([ordered]@{ Mailbox = $mailbox.guid })
    $changed = [System.Collections.Generic.List[object]]::new()
    $labels = [System.Collections.Generic.List[string]]::new()
    $what = if ($scope -eq 'all') { 'enabled inbox rules' } else { 'enabled inbox rules that forward, redirect or delete' }
    $look = New-ExoLook -Detail "$($mailbox.label) has no $what." -Before ([ordered]@{ mailbox = $mailbox.guid; inboxRules = $changed })
    foreach ($rule in $rules) {
        if (-not (ConvertTo-ExoBool (Get-ExoProp $rule 'Enabled'))) { continue }
        $forwards = @(Get-ExoProp $rule 'ForwardTo') + @(Get-ExoProp $rule 'ForwardAsAttachmentTo') + @(Get-ExoProp $rule 'RedirectTo') | Where-Object { $null -ne $_ -and ([string]$_).Length -gt 0 }
        $deletes = (ConvertTo-ExoBool (Get-ExoProp $rule 'DeleteMessage')) -or (ConvertTo-ExoBool (Get-ExoProp $rule 'SoftDeleteMessage'))
        if ($scope -ne 'all' -and @($forwards).Count -eq 0 -and -not $deletes) { continue }
        $identity = [string][ExoText]::Prop($rule, 'Identity')
        $label = Format-ExoQuoted ([string][ExoText]::Prop($rule, 'Name'))
        if ($identity.Length -eq 0) { return New-ExoLook 'failed' "Exchange returned the inbox rule $label without its Identity; nothing was changed." $look.before }
        $changed.Add([ordered]@{ identity = [ExoText]::Limit($identity, 300); name = [ExoText]::Limit([string][ExoText]::Prop($rule, 'Name'), 200); enabled = $true })
        $labels.Add($label)
        Add-ExoChange $look 'Disable-InboxRule' ([ordered]@{ Identity = $identity; Mailbox = $mailbox.guid; Confirm = [switch]$false }) -Label $label -GoneIsDone
    }
    $list = $labels -join ', '
    $look.after = [ordered]@{ mailbox = $mailbox.guid; disabledInboxRules = @(foreach ($rule in $changed) { $rule.identity }) }
    $look.planned = "Would disable (not delete) $(Format-ExoCount $labels.Count 'inbox rule') of $($mailbox.label): $list."
    $look.done = "Disabled (not deleted) $(Format-ExoCount $labels.Count 'inbox rule') of $($mailbox.label): $list."
    return $look
}

# ---------------------------------------------------------------------------------------------------------
# cancelMeetings: Remove-CalendarEvents -CancelOrganizedMeetings -QueryWindowInDays N (-PreviewOnly to look)

function Get-ExoLookMeetings {
    param($State, $Action)
    $mailbox = $State.mailbox
    $window = Get-ExoOption $State 'meetingWindowDays'
    $days = if ($null -eq $window) { 365 } else { Get-ExoWholeNumber $window 1 $script:MaxMeetingWindowDays }
    if ($null -eq $days) { return New-ExoLook 'failed' "The meeting window must be a whole number of days from 1 to $($script:MaxMeetingWindowDays); nothing was changed." }
    $preview = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Remove-CalendarEvents' -Parameters ([ordered]@{
            Identity                = $mailbox.guid
            CancelOrganizedMeetings = [switch]$true
            QueryWindowInDays       = $days
            PreviewOnly             = [switch]$true
            Confirm                 = [switch]$false
        })
    $meetings = [System.Collections.Generic.List[object]]::new()
    $labels = [System.Collections.Generic.List[string]]::new()
    foreach ($meeting in $preview) {
        $subject = [ExoText]::Limit([string][ExoText]::Prop($meeting, 'Subject'), 120)
        $start = [ExoText]::Limit([string][ExoText]::Prop($meeting, 'Start'), 40)
        $meetings.Add([ordered]@{ subject = $subject; start = $start })
        $labels.Add("'$subject' ($start)")
    }
    $look = New-ExoLook -Detail "$($mailbox.label) organizes no meetings in the next $days days." -Before ([ordered]@{ mailbox = $mailbox.guid; meetings = $meetings; queryWindowInDays = $days })
    if ($meetings.Count -eq 0) { return $look }
    Add-ExoChange $look 'Remove-CalendarEvents' ([ordered]@{
            Identity                = $mailbox.guid
            CancelOrganizedMeetings = [switch]$true
            QueryWindowInDays       = $days
            Confirm                 = [switch]$false
        })
    $list = $labels -join ', '
    # Cancelled meetings cannot be restored: the after image says so.
    $look.after = [ordered]@{ mailbox = $mailbox.guid; cancelledMeetings = $meetings; restorable = $false }
    $look.planned = "Would cancel $(Format-ExoCount $meetings.Count 'meeting') $($mailbox.label) organizes in the next $days days (attendees get a cancellation; this cannot be undone): $list."
    $look.done = "Cancelled $(Format-ExoCount $meetings.Count 'meeting') $($mailbox.label) organized in the next $days days: $list."
    return $look
}

# ---------------------------------------------------------------------------------------------------------
# litigationHold: Set-Mailbox -LitigationHoldEnabled $true [-LitigationHoldDuration D]

function Get-ExoLookHold {
    param($State, $Action)
    $mailbox = $State.mailbox
    $rawDays = Get-ExoOption $State 'holdDurationDays'
    $days = $null
    if ($null -ne $rawDays) {
        $days = Get-ExoWholeNumber $rawDays 1 $script:MaxHoldDays
        if ($null -eq $days) { return New-ExoLook 'failed' "The hold duration must be a whole number of days from 1 to $($script:MaxHoldDays); nothing was changed." }
    }
    $enabled = ConvertTo-ExoBool (Get-ExoProp $mailbox.raw 'LitigationHoldEnabled')
    $duration = [string][ExoText]::Prop($mailbox.raw, 'LitigationHoldDuration')
    $currentDays = Get-ExoHoldDays $duration
    $wanted = if ($null -eq $days) { 'an unlimited' } else { "a $days-day" }
    $look = New-ExoLook -Detail "$($mailbox.label) is already on litigation hold ($(if ($null -eq $currentDays) { 'unlimited' } else { "$currentDays days" }))." -Before ([ordered]@{ mailbox = $mailbox.guid; litigationHoldEnabled = $enabled; litigationHoldDuration = $duration })
    # An existing hold that already lasts as long (or longer) is never shortened.
    if ($enabled -and ($null -eq $currentDays -or ($null -ne $days -and $currentDays -ge $days))) { return $look }
    $parameters = [ordered]@{ Identity = $mailbox.guid; LitigationHoldEnabled = $true }
    $parameters.LitigationHoldDuration = if ($null -eq $days) { 'Unlimited' } else { $days }
    $parameters.Confirm = [switch]$false
    Add-ExoChange $look 'Set-Mailbox' $parameters
    $look.after = [ordered]@{ mailbox = $mailbox.guid; litigationHoldEnabled = $true; litigationHoldDuration = [string]$parameters.LitigationHoldDuration }
    $verb = if ($enabled) { 'extend the litigation hold of' } else { 'put' }
    $tail = if ($enabled) { " to $wanted hold" } else { " on $wanted litigation hold" }
    $look.planned = "Would $verb $($mailbox.label)$tail."
    $look.done = ("Did $verb $($mailbox.label)$tail." -replace '\ADid put', 'Put' -replace '\ADid extend', 'Extended')
    return $look
}

function Get-ExoHoldDays {
    # "Unlimited" (or empty) -> $null; "365.00:00:00" -> 365.
    param([string]$Duration)
    $match = [regex]::Match($Duration, '\A(\d+)(?:\.|\z)')
    if ($match.Success) { return [int]$match.Groups[1].Value }
    return $null
}

# ---------------------------------------------------------------------------------------------------------
# Before convertToShared: will the shared mailbox still need an Exchange Online Plan 2 licence?

function Add-ExoSharedLicenceWarning {
    # A warning in the report, never a failure: over 50 GB, an archive, or any hold (including the
    # litigation hold this run is about to set) keeps the licence requirement after the conversion.
    param($State, $Action)
    $mailbox = $State.mailbox
    $reasons = [System.Collections.Generic.List[string]]::new()
    try {
        $stats = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-MailboxStatistics' -Parameters ([ordered]@{ Identity = $mailbox.guid })
        $size = if ($stats.Count -gt 0) { [string](Get-ExoProp $stats[0] 'TotalItemSize') } else { '' }
        $bytes = Get-ExoSizeBytes $size
        if ($null -ne $bytes -and $bytes -gt $script:SharedMailboxFreeBytes) {
            $shown = Limit-ExoText ([regex]::Replace($size, '\s*\(.*\z', '')) 40
            $reasons.Add("it holds $shown, over 50 GB")
        }
    } catch {
        $Action.warnings.Add("Could not read the size of $($mailbox.label) to check its licence needs: $(Get-ExoErrorMessage $_)")
    }
    $raw = $mailbox.raw
    $archiveGuid = [string][ExoText]::Prop($raw, 'ArchiveGuid')
    if ([string][ExoText]::Prop($raw, 'ArchiveStatus') -eq 'Active' -or ($archiveGuid.Length -gt 0 -and $archiveGuid -ne $script:EmptyGuid)) { $reasons.Add('it has an archive mailbox') }
    if (ConvertTo-ExoBool (Get-ExoProp $raw 'LitigationHoldEnabled')) { $reasons.Add('it is on litigation hold') }
    elseif ($State.pendingActions -ccontains 'litigationHold') { $reasons.Add('this run puts it on litigation hold') }
    $holds = @(Get-ExoProp $raw 'InPlaceHolds' | Where-Object { $null -ne $_ -and ([string]$_).Length -gt 0 })
    if ($holds.Count -gt 0 -or (ConvertTo-ExoBool (Get-ExoProp $raw 'ComplianceTagHoldApplied'))) { $reasons.Add('it is on a retention or eDiscovery hold') }
    if ($reasons.Count -eq 0) { return }
    $Action.warnings.Add("$($mailbox.label) will still need an Exchange Online Plan 2 licence (or Plan 1 with Exchange Online Archiving) after the conversion to shared: " + ($reasons -join '; ') + '. Keep its licence assigned.')
}

function Get-ExoSizeBytes {
    # "61.23 GB (65,748,286,464 bytes)" -> 65748286464; anything else -> $null.
    param([string]$Size)
    $match = [regex]::Match($Size, '\(([\d,.\s]+) bytes\)')
    if (-not $match.Success) { return $null }
    $digits = [regex]::Replace($match.Groups[1].Value, '[^\d]', '')
    $value = [long]0
    if ([long]::TryParse($digits, [ref]$value)) { return $value }
    return $null
}

# ---------------------------------------------------------------------------------------------------------
# Run targets from run variables: forwardTo and delegateTo

function Resolve-ExoRunTargets {
    # The people run variables name (forwardTo: forward there instead of the manager; delegate: grant
    # there instead), bound exactly like the line manager: one UserMailbox by primary address, not the leaver.
    param($Run, $Action, $Request, $Leaver, $Pinned)
    $targets = @{ ok = $true; forwardTo = $null; delegate = $null }
    foreach ($role in @(@{ key = 'forwardTo'; label = 'forwarding address (run variable forwardTo)' }, @{ key = 'delegate'; label = 'delegate (run variable delegateTo)' })) {
        $raw = $Request[$role.key]
        if ($null -eq $raw -or ($raw -is [string] -and $raw.Length -eq 0)) { continue }
        if (-not (Test-ExoAddress $raw)) {
            return @{ ok = $false; final = $true; message = "The $($role.label) " + (Format-ExoQuoted ([string]$raw)) + ' is not a valid email address; nothing was changed.' }
        }
        $person = Resolve-ExoPerson -Run $Run -Action $Action -Cmdlet 'Get-Recipient' -Address $raw -Role $role.label
        if (-not $person.ok) { return $person }
        if ([string]::Equals($person.guid, $Leaver.guid, [System.StringComparison]::OrdinalIgnoreCase)) {
            return @{ ok = $false; final = $true; message = "The $($role.label) $raw is the leaver's own mailbox, $($Leaver.label); nothing was changed." }
        }
        if ($person.type -ne 'UserMailbox') {
            return @{ ok = $false; final = $true; message = "The $($role.label) $raw belongs to $($person.label), a $(Format-ExoShown $person.type), not a person's mailbox in this organization; nothing was changed." }
        }
        $targets[$role.key] = $person
    }
    return $targets
}
