<#
  ExoUndo: undo of a run (issue 17), dot-sourced into ExoActions.psm1. Two phases, like a run:

    Get-ExoUndoLook     payload { runId, whatIf, force, steps: [ { action, before, after } ] }
                        the steps come from the run's journal, already in reverse order; `before` is the
                        action's before-image, `after` the state its apply left. Per step: read the current
                        state (by the Guids the journal recorded, never by an address) and compare it:
                          current = before       -> 'already' (nothing to restore)
                          current = our after    -> 'planned' (the restoring cmdlets)
                          anything else          -> 'drift' (someone changed it after us; left alone unless
                                                    force, which restores the before-image anyway)
                        Cancelled meetings and removed device partnerships cannot come back: 'skipped'.
    Invoke-ExoUndoApply payload { runId, lookId }: runs exactly what that look planned, in its order.

  Only what the run added is removed (a permission that existed before is never a step: the journal
  only hands over steps whose result was a change this app made). Every value is data bound to a
  cmdlet parameter; every target is a Guid from the journal or an object Exchange returned.
#>

$script:UndoCmdlets = [string[]]@('Remove-MailboxPermission', 'Remove-RecipientPermission', 'Add-DistributionGroupMember', 'Enable-InboxRule')
$script:UndoLooks = @{
    convertToShared              = 'Get-ExoUndoConvert'
    grantManagerFullAccess       = 'Get-ExoUndoFullAccess'
    grantManagerSendAs           = 'Get-ExoUndoSendAs'
    removeFromDistributionGroups = 'Get-ExoUndoGroups'
    hideFromAddressLists         = 'Get-ExoUndoHide'
    setAutoReply                 = 'Get-ExoUndoAutoReply'
    forwardToManager             = 'Get-ExoUndoForwarding'
    grantManagerSendOnBehalf     = 'Get-ExoUndoSendOnBehalf'
    disableProtocols             = 'Get-ExoUndoProtocols'
    disableInboxRules            = 'Get-ExoUndoInboxRules'
    litigationHold               = 'Get-ExoUndoHold'
}
$script:NotRestorable = @{
    cancelMeetings      = 'Cancelled meetings cannot be restored: the attendees were sent cancellations. Nothing to do.'
    removeMobileDevices = 'Removed mobile device partnerships cannot be restored; a device pairs again when its user signs in. Nothing to do.'
}
$script:AlreadyMemberErrors = [string[]]@('MemberAlreadyExistsException')

function Get-ExoUndoLook {
    <#
    .SYNOPSIS
    Phase 1 of an undo: per journalled step, compare Exchange's current state with the run's before- and
    after-images and plan the restoring cmdlets. Changes nothing.
    #>
    [CmdletBinding()]
    param([AllowEmptyString()][string]$Payload)
    if (-not $PSBoundParameters.ContainsKey('Payload')) { $Payload = Read-ExoDataLine }
    Invoke-ExoEntryPoint -Payload $Payload -DefaultCode 'UndoFailed' -Core { param($Context, $Data) Get-ExoUndoLookCore -Context $Context -Payload $Data }
}

function Invoke-ExoUndoApply {
    <#
    .SYNOPSIS
    Phase 2 of an undo: run what the look `lookId` planned (never cmdlets from the payload).
    #>
    [CmdletBinding()]
    param([AllowEmptyString()][string]$Payload)
    if (-not $PSBoundParameters.ContainsKey('Payload')) { $Payload = Read-ExoDataLine }
    Invoke-ExoEntryPoint -Payload $Payload -DefaultCode 'UndoFailed' -Core { param($Context, $Data) Invoke-ExoUndoApplyCore -Context $Context -Payload $Data }
}

function Get-ExoUndoLookCore {
    param($Context, [string]$Payload)
    $request = Read-ExoPayload $Payload
    $whatIf = $request['whatIf'] -eq $true
    $force = $request['force'] -eq $true
    $steps = $request['steps']
    if ($steps -isnot [System.Collections.IList]) { throw (New-ExoException 'PayloadInvalid' 'steps must be a list.') }
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
    # Who the Guids are, from the run's record (text for messages only, never an identity).
    $labels = @{}
    if ($request['labels'] -is [System.Collections.IDictionary]) {
        foreach ($key in $request['labels'].Keys) {
            $parsed = [guid]::Empty
            if ([guid]::TryParse([string]$key, [ref]$parsed)) { $labels[$parsed.ToString()] = Limit-ExoText ([string]$request['labels'][$key]) 200 }
        }
    }
    $state = @{ run = $run; force = $force; mailboxes = @{}; labels = $labels }
    foreach ($raw in $steps) {
        $name = if ($raw -is [System.Collections.IDictionary]) { $raw['action'] } else { $null }
        $shown = if ($name -is [string]) { $name } else { 'unknown' }
        $action = New-ExoActionResult $shown
        $run.actions.Add($action)
        if ($name -isnot [string] -or $script:KnownActions -cnotcontains $name) {
            Set-ExoActionStatus $action 'failed' ('Unknown action ' + (Format-ExoQuoted ([string]$name)) + '; nothing is restored for it.')
            continue
        }
        if ($script:NotRestorable.ContainsKey($name)) { Set-ExoActionStatus $action 'skipped' $script:NotRestorable[$name]; continue }
        $before = $raw['before']
        $after = $raw['after']
        if ($before -isnot [System.Collections.IDictionary] -or $after -isnot [System.Collections.IDictionary]) {
            Set-ExoActionStatus $action 'failed' 'The journal holds no before- and after-image for this action; nothing is restored for it.'
            continue
        }
        try {
            $null = & $script:UndoLooks[$name] -State $state -Action $action -Before $before -After $after
        } catch {
            $action._planned.Clear()
            Set-ExoActionStatus $action 'failed' (Get-ExoErrorMessage $_)
        }
        $changes = [System.Collections.Generic.List[object]]::new()
        foreach ($change in $action._planned) { $changes.Add([ordered]@{ cmdlet = $change.cmdlet; parameters = $change.parameters; line = $change.line }) }
        $action.changes = $changes
    }
    $planned = @($run.actions | Where-Object { $_.status -eq 'planned' })
    if (-not $whatIf -and $planned.Count -gt 0) {
        $run.lookId = [guid]::NewGuid().ToString()
        Save-ExoLook -LookId $run.lookId -RunId $run.runId -State $state -Actions $run.actions
    }
}

function Invoke-ExoUndoApplyCore {
    param($Context, [string]$Payload)
    $taken = Use-ExoLook -Context $Context -Payload $Payload -Kind 'undo look'
    $look = $taken.look
    $run = $taken.run
    $state = $taken.state
    foreach ($action in $look.actions) {
        if ($action.status -ne 'planned') { continue }
        $result = New-ExoActionResult $action.name
        $run.actions.Add($result)
        $failures = [System.Collections.Generic.List[string]]::new()
        foreach ($change in $action._planned) {
            try {
                $null = Invoke-ExoCmdlet -Run $run -Action $result -Name $change.cmdlet -Parameters $change.bound
            } catch {
                # Someone restored it between the look and now: the goal is met.
                if ($change.cmdlet -eq 'Add-DistributionGroupMember' -and (Test-ExoErrorIs $_ $script:AlreadyMemberErrors)) { continue }
                $failures.Add((Get-ExoErrorMessage $_))
            }
        }
        if ($failures.Count -gt 0) {
            Set-ExoActionStatus $result 'failed' ('Could not finish restoring: ' + ($failures -join '; ') + '. Intended: ' + $action.detail)
            $result.after = [ordered]@{ unknown = $true }
        } else {
            Set-ExoActionStatus $result 'done' $action._doneDetail
            $result.after = $action._after
        }
    }
}

# ---------------------------------------------------------------------------------------------------------
# Helpers

function Get-ExoUndoGuid {
    # A Guid the journal recorded, checked to be one (it only ever binds to -Identity and the like).
    param($Image, [string]$Key)
    $value = if ($Image -is [System.Collections.IDictionary]) { $Image[$Key] } else { $null }
    $parsed = [guid]::Empty
    if ($value -isnot [string] -or -not [guid]::TryParse($value, [ref]$parsed)) {
        throw (New-ExoException 'JournalInvalid' "The journal's image has no valid $Key Guid; nothing is restored for this action.")
    }
    return $parsed.ToString()
}

function Get-ExoUndoMailbox {
    # The leaver's mailbox by the Guid the journal recorded, read once per undo (its properties are
    # what several steps compare).
    param($State, $Action, [string]$Guid)
    if ($State.mailboxes.ContainsKey($Guid)) { return $State.mailboxes[$Guid] }
    $found = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-Mailbox' -Parameters ([ordered]@{ Identity = $Guid })
    if ($found.Count -ne 1) { throw (New-ExoException 'NotFound' "Exchange returned $($found.Count) mailboxes for the journalled Guid $Guid; nothing is restored.") }
    $subject = ConvertTo-ExoSubject $found[0]
    if (-not [string]::Equals($subject.guid, $Guid, [System.StringComparison]::OrdinalIgnoreCase)) {
        throw (New-ExoException 'NotFound' "Exchange returned another mailbox ($($subject.label)) for the journalled Guid $Guid; nothing is restored.")
    }
    $State.mailboxes[$Guid] = $subject
    return $subject
}

function Get-ExoUndoRecipient {
    param($State, $Action, [string]$Guid)
    $found = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-Recipient' -Parameters ([ordered]@{ Identity = $Guid })
    if ($found.Count -ne 1) { throw (New-ExoException 'NotFound' "Exchange returned $($found.Count) recipients for the journalled Guid $Guid; nothing is restored.") }
    return ConvertTo-ExoSubject $found[0]
}

function Get-ExoUndoLabel {
    # "Name <address> (guid)" when the run's record knows the Guid, else the Guid.
    param($State, [string]$Guid)
    if ($State.labels.ContainsKey($Guid)) { return "$($State.labels[$Guid]) ($Guid)" }
    return $Guid
}

function Set-ExoUndoDecision {
    # current = before -> already; current = after -> planned; else drift (planned anyway with force).
    param($State, $Action, [bool]$IsBefore, [bool]$IsAfter, [string]$What, [string]$Current, [scriptblock]$Plan, [string]$Verb = 'restore', [string]$Done = 'Restored')
    if ($IsBefore) { Set-ExoActionStatus $Action 'already' "$What is already as before the run ($Current)."; return }
    if (-not $IsAfter -and -not $State.force) {
        Set-ExoActionStatus $Action 'drift' "$What was changed by someone else after the run (now $Current); left alone (--force restores it anyway)."
        return
    }
    $null = & $Plan
    $note = if ($IsAfter) { '' } else { " (drift: now $Current; restored because of --force)" }
    Set-ExoActionStatus $Action 'planned' "Would $Verb $What$note."
    $Action._doneDetail = "$Done $What$note."
}

function Test-ExoUndoText {
    param($A, $B)
    return [string]::Equals([string]$A, [string]$B, [System.StringComparison]::OrdinalIgnoreCase)
}

# ---------------------------------------------------------------------------------------------------------
# The steps

function Get-ExoUndoConvert {
    param($State, $Action, $Before, $After)
    $mailbox = Get-ExoUndoMailbox $State $Action (Get-ExoUndoGuid $Before 'mailbox')
    $Action.before = [ordered]@{ mailbox = $mailbox.guid; recipientTypeDetails = $mailbox.type }
    $was = [string]$Before['recipientTypeDetails']
    if ($was -ne 'UserMailbox') { throw (New-ExoException 'JournalInvalid' "The run found $(Format-ExoQuoted $was), not a user mailbox; only a conversion from a user mailbox is undone.") }
    Set-ExoUndoDecision $State $Action ($mailbox.type -eq $was) ($mailbox.type -eq [string]$After['recipientTypeDetails']) "the mailbox type of $($mailbox.label) (UserMailbox)" $mailbox.type {
        Add-ExoPlannedChange -Action $Action -Name 'Set-Mailbox' -Parameters ([ordered]@{ Identity = $mailbox.guid; Type = 'Regular'; Confirm = [switch]$false })
    }
    $Action._after = [ordered]@{ mailbox = $mailbox.guid; recipientTypeDetails = 'UserMailbox' }
}

function Get-ExoUndoFullAccess {
    param($State, $Action, $Before, $After)
    $mailbox = Get-ExoUndoGuid $Before 'mailbox'
    $trustee = Get-ExoUndoGuid $Before 'trustee'
    if ($Before['fullAccess'] -eq $true) { Set-ExoActionStatus $Action 'skipped' 'The trustee had FullAccess before the run; it is left alone.'; return }
    $existing = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-MailboxPermission' -Parameters ([ordered]@{ Identity = $mailbox; User = $trustee })
    $has = $false
    foreach ($entry in $existing) { if ((Test-ExoRights (Get-ExoProp $entry 'AccessRights') 'FullAccess') -and -not (ConvertTo-ExoBool (Get-ExoProp $entry 'Deny'))) { $has = $true } }
    $Action.before = [ordered]@{ mailbox = $mailbox; trustee = $trustee; fullAccess = $has }
    Set-ExoUndoDecision $State $Action (-not $has) $has "the FullAccess the run granted $(Get-ExoUndoLabel $State $trustee) to $(Get-ExoUndoLabel $State $mailbox)" $(if ($has) { 'granted' } else { 'not granted' }) -Verb 'remove' -Done 'Removed' -Plan {
        Add-ExoPlannedChange -Action $Action -Name 'Remove-MailboxPermission' -Parameters ([ordered]@{ Identity = $mailbox; User = $trustee; AccessRights = 'FullAccess'; InheritanceType = 'All'; Confirm = [switch]$false })
    }
    $Action._after = [ordered]@{ mailbox = $mailbox; trustee = $trustee; fullAccess = $false }
}

function Get-ExoUndoSendAs {
    param($State, $Action, $Before, $After)
    $mailbox = Get-ExoUndoGuid $Before 'mailbox'
    $trustee = Get-ExoUndoGuid $Before 'trustee'
    if ($Before['sendAs'] -eq $true) { Set-ExoActionStatus $Action 'skipped' 'The trustee had SendAs before the run; it is left alone.'; return }
    $existing = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-RecipientPermission' -Parameters ([ordered]@{ Identity = $mailbox; Trustee = $trustee; AccessRights = 'SendAs' })
    $has = $false
    foreach ($entry in $existing) {
        $allow = [string](Get-ExoProp $entry 'AccessControlType')
        if ((Test-ExoRights (Get-ExoProp $entry 'AccessRights') 'SendAs') -and ($allow.Length -eq 0 -or $allow -eq 'Allow')) { $has = $true }
    }
    $Action.before = [ordered]@{ mailbox = $mailbox; trustee = $trustee; sendAs = $has }
    Set-ExoUndoDecision $State $Action (-not $has) $has "the SendAs the run granted $(Get-ExoUndoLabel $State $trustee) on $(Get-ExoUndoLabel $State $mailbox)" $(if ($has) { 'granted' } else { 'not granted' }) -Verb 'remove' -Done 'Removed' -Plan {
        Add-ExoPlannedChange -Action $Action -Name 'Remove-RecipientPermission' -Parameters ([ordered]@{ Identity = $mailbox; Trustee = $trustee; AccessRights = 'SendAs'; Confirm = [switch]$false })
    }
    $Action._after = [ordered]@{ mailbox = $mailbox; trustee = $trustee; sendAs = $false }
}

function Get-ExoUndoGroups {
    # Back into exactly the groups the run removed the member from (after.removedFrom), one membership query.
    param($State, $Action, $Before, $After)
    $mailbox = Get-ExoUndoMailbox $State $Action (Get-ExoUndoGuid $Before 'member')
    $removed = [System.Collections.Generic.List[string]]::new()
    foreach ($guid in @($After['removedFrom'])) {
        $parsed = [guid]::Empty
        if ($guid -is [string] -and [guid]::TryParse($guid, [ref]$parsed)) { $removed.Add($parsed.ToString()) }
    }
    $filter = "Members -eq '" + $mailbox.dn.Replace("'", "''") + "'"
    $groups = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-Recipient' -Parameters ([ordered]@{ Filter = $filter; RecipientTypeDetails = [string[]]@($script:DistributionGroupType); ResultSize = 'Unlimited' })
    $current = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::OrdinalIgnoreCase)
    foreach ($group in $groups) { $null = $current.Add([string](Get-ExoProp $group 'Guid')) }
    $Action.before = [ordered]@{ member = $mailbox.guid; distributionGroups = @($current) }
    $missing = @($removed | Where-Object { -not $current.Contains($_) })
    $groupLabels = @{}
    foreach ($entry in @($Before['memberOf'])) {
        if ($entry -is [System.Collections.IDictionary] -and $entry['guid'] -is [string]) {
            $groupLabels[[string]$entry['guid']] = (Limit-ExoText ([string]$entry['displayName']) 120) + ' <' + (Limit-ExoText ([string]$entry['address']) 120) + '>'
        }
    }
    $shown = (@(foreach ($guid in $missing) { if ($groupLabels.ContainsKey($guid)) { "$($groupLabels[$guid]) ($guid)" } else { $guid } }) -join ', ')
    foreach ($guid in $missing) {
        Add-ExoPlannedChange -Action $Action -Name 'Add-DistributionGroupMember' -Parameters ([ordered]@{ Identity = $guid; Member = $mailbox.guid; BypassSecurityGroupManagerCheck = [switch]$true; Confirm = [switch]$false })
    }
    $Action._after = [ordered]@{ member = $mailbox.guid; addedTo = $missing }
    if ($missing.Count -eq 0) {
        Set-ExoActionStatus $Action 'already' "$($mailbox.label) is already back in the $(Format-ExoCount $removed.Count 'distribution group') the run removed it from."
        return
    }
    Set-ExoActionStatus $Action 'planned' "Would add $($mailbox.label) back to $(Format-ExoCount $missing.Count 'distribution group'): $shown."
    $Action._doneDetail = "Added $($mailbox.label) back to $(Format-ExoCount $missing.Count 'distribution group'): $shown."
}

function Get-ExoUndoHide {
    param($State, $Action, $Before, $After)
    $mailbox = Get-ExoUndoMailbox $State $Action (Get-ExoUndoGuid $Before 'mailbox')
    $now = ConvertTo-ExoBool (Get-ExoProp $mailbox.raw 'HiddenFromAddressListsEnabled')
    $was = $Before['hiddenFromAddressListsEnabled'] -eq $true
    $Action.before = [ordered]@{ mailbox = $mailbox.guid; hiddenFromAddressListsEnabled = $now }
    Set-ExoUndoDecision $State $Action ($now -eq $was) ($now -eq ($After['hiddenFromAddressListsEnabled'] -eq $true)) "the address-list visibility of $($mailbox.label) (hidden: $was)" "hidden: $now" {
        Add-ExoPlannedChange -Action $Action -Name 'Set-Mailbox' -Parameters ([ordered]@{ Identity = $mailbox.guid; HiddenFromAddressListsEnabled = $was; Confirm = [switch]$false })
    }
    $Action._after = [ordered]@{ mailbox = $mailbox.guid; hiddenFromAddressListsEnabled = $was }
}

function Get-ExoUndoAutoReply {
    param($State, $Action, $Before, $After)
    $mailbox = Get-ExoUndoGuid $Before 'mailbox'
    $found = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-MailboxAutoReplyConfiguration' -Parameters ([ordered]@{ Identity = $mailbox })
    $config = if ($found.Count -gt 0) { $found[0] } else { $null }
    $now = [ordered]@{
        autoReplyState   = [string](Get-ExoProp $config 'AutoReplyState')
        internalMessage  = [string](Get-ExoProp $config 'InternalMessage')
        externalMessage  = [string](Get-ExoProp $config 'ExternalMessage')
        externalAudience = [string](Get-ExoProp $config 'ExternalAudience')
    }
    $Action.before = [ordered]@{ mailbox = $mailbox }
    foreach ($key in $now.Keys) { $Action.before[$key] = $now[$key] }
    $same = {
        param($Image)
        return ([string]$Image['autoReplyState'] -eq $now.autoReplyState) -and ([string]$Image['externalAudience'] -eq $now.externalAudience) -and
            ((Get-ExoMessageBody ([string]$Image['internalMessage'])) -ceq (Get-ExoMessageBody $now.internalMessage)) -and
            ((Get-ExoMessageBody ([string]$Image['externalMessage'])) -ceq (Get-ExoMessageBody $now.externalMessage))
    }
    $replyState = [string]$Before['autoReplyState']
    if (@('Enabled', 'Disabled', 'Scheduled') -cnotcontains $replyState) { $replyState = 'Disabled' }
    if ($replyState -eq 'Scheduled' -and -not (& $same $Before)) {
        Set-ExoActionStatus $Action 'skipped' "The automatic reply of $(Get-ExoUndoLabel $State $mailbox) was Scheduled before the run; the journal has no start and end times, so it is not restored automatically (set it again by hand)."
        return
    }
    $audience = [string]$Before['externalAudience']
    if (@('None', 'Known', 'All') -cnotcontains $audience) { $audience = 'All' }
    Set-ExoUndoDecision $State $Action (& $same $Before) (& $same $After) "the automatic reply of $(Get-ExoUndoLabel $State $mailbox) ($replyState)" $now.autoReplyState {
        Add-ExoPlannedChange -Action $Action -Name 'Set-MailboxAutoReplyConfiguration' -Parameters ([ordered]@{
                Identity         = $mailbox
                AutoReplyState   = $replyState
                InternalMessage  = [string]$Before['internalMessage']
                ExternalMessage  = [string]$Before['externalMessage']
                ExternalAudience = $audience
                Confirm          = [switch]$false
            })
    }
    $Action._after = [ordered]@{ mailbox = $mailbox; autoReplyState = $replyState }
}

function Get-ExoUndoForwarding {
    param($State, $Action, $Before, $After)
    $mailbox = Get-ExoUndoMailbox $State $Action (Get-ExoUndoGuid $Before 'mailbox')
    $target = Get-ExoUndoRecipient $State $Action (Get-ExoUndoGuid $After 'forwardingAddress')
    $raw = $mailbox.raw
    $now = [ordered]@{
        forwardingAddress          = [string](Get-ExoProp $raw 'ForwardingAddress')
        forwardingSmtpAddress      = [string](Get-ExoProp $raw 'ForwardingSmtpAddress')
        deliverToMailboxAndForward = ConvertTo-ExoBool (Get-ExoProp $raw 'DeliverToMailboxAndForward')
    }
    $Action.before = [ordered]@{ mailbox = $mailbox.guid }
    foreach ($key in $now.Keys) { $Action.before[$key] = $now[$key] }
    $isBefore = (Test-ExoUndoText $now.forwardingAddress $Before['forwardingAddress']) -and (Test-ExoUndoText $now.forwardingSmtpAddress $Before['forwardingSmtpAddress']) -and ($now.deliverToMailboxAndForward -eq ($Before['deliverToMailboxAndForward'] -eq $true))
    $isAfter = (Test-ExoSameRecipient $now.forwardingAddress $target) -and $now.forwardingSmtpAddress.Length -eq 0 -and ($now.deliverToMailboxAndForward -eq ($After['deliverToMailboxAndForward'] -eq $true))
    $previous = [string]$Before['forwardingAddress']
    $smtp = ([string]$Before['forwardingSmtpAddress']) -replace '\Asmtp:', ''
    $shown = if ($previous.Length -gt 0) { Format-ExoQuoted $previous } elseif ($smtp.Length -gt 0) { Format-ExoQuoted $smtp } else { 'none' }
    Set-ExoUndoDecision $State $Action $isBefore $isAfter "the forwarding of $($mailbox.label) (was $shown)" "forwarding to $(Format-ExoQuoted $now.forwardingAddress)" {
        $parameters = [ordered]@{ Identity = $mailbox.guid; ForwardingAddress = $(if ($previous.Length -gt 0) { $previous } else { $null }) }
        if ($smtp.Length -gt 0) { $parameters.ForwardingSmtpAddress = $smtp }
        $parameters.DeliverToMailboxAndForward = $Before['deliverToMailboxAndForward'] -eq $true
        $parameters.Confirm = [switch]$false
        Add-ExoPlannedChange -Action $Action -Name 'Set-Mailbox' -Parameters $parameters
    }
    $Action._after = [ordered]@{ mailbox = $mailbox.guid; forwardingAddress = $previous; forwardingSmtpAddress = $smtp }
}

function Get-ExoUndoSendOnBehalf {
    param($State, $Action, $Before, $After)
    $mailbox = Get-ExoUndoMailbox $State $Action (Get-ExoUndoGuid $Before 'mailbox')
    $trustee = Get-ExoUndoRecipient $State $Action (Get-ExoUndoGuid $Before 'trustee')
    $has = $false
    foreach ($holder in @(Get-ExoProp $mailbox.raw 'GrantSendOnBehalfTo')) { if ($null -ne $holder -and (Test-ExoSameRecipient $holder $trustee)) { $has = $true } }
    $Action.before = [ordered]@{ mailbox = $mailbox.guid; trustee = $trustee.guid; sendOnBehalf = $has }
    Set-ExoUndoDecision $State $Action (-not $has) $has "the SendOnBehalf the run granted $($trustee.label) on $($mailbox.label)" $(if ($has) { 'granted' } else { 'not granted' }) -Verb 'remove' -Done 'Removed' -Plan {
        Add-ExoPlannedChange -Action $Action -Name 'Set-Mailbox' -Parameters ([ordered]@{ Identity = $mailbox.guid; GrantSendOnBehalfTo = [ordered]@{ Remove = $trustee.guid }; Confirm = [switch]$false })
    }
    $Action._after = [ordered]@{ mailbox = $mailbox.guid; trustee = $trustee.guid; sendOnBehalf = $false }
}

function Get-ExoUndoProtocols {
    # Turn back on exactly the protocols the run turned off (on before, off after).
    param($State, $Action, $Before, $After)
    $mailbox = Get-ExoUndoGuid $Before 'mailbox'
    $found = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-CASMailbox' -Parameters ([ordered]@{ Identity = $mailbox })
    $cas = if ($found.Count -gt 0) { $found[0] } else { $null }
    $now = [ordered]@{ mailbox = $mailbox }
    $parameters = [ordered]@{ Identity = $mailbox }
    $names = [System.Collections.Generic.List[string]]::new()
    $restored = [ordered]@{ mailbox = $mailbox }
    foreach ($parameter in $script:ProtocolParameters.Values) {
        if ($Before[$parameter] -ne $true -or $After[$parameter] -ne $false) { continue }
        $enabled = ConvertTo-ExoBool (Get-ExoProp $cas $parameter)
        $now[$parameter] = $enabled
        $restored[$parameter] = $true
        if (-not $enabled) { $parameters[$parameter] = $true; $names.Add($parameter) }
    }
    $Action.before = $now
    $Action._after = $restored
    if ($names.Count -eq 0) { Set-ExoActionStatus $Action 'already' "The protocols the run turned off for $(Get-ExoUndoLabel $State $mailbox) are already on again."; return }
    $parameters.Confirm = [switch]$false
    Add-ExoPlannedChange -Action $Action -Name 'Set-CASMailbox' -Parameters $parameters
    Set-ExoActionStatus $Action 'planned' "Would turn $($names -join ', ') back on for $(Get-ExoUndoLabel $State $mailbox)."
    $Action._doneDetail = "Turned $($names -join ', ') back on for $(Get-ExoUndoLabel $State $mailbox)."
}

function Get-ExoUndoInboxRules {
    param($State, $Action, $Before, $After)
    $mailbox = Get-ExoUndoGuid $Before 'mailbox'
    $ours = [System.Collections.Generic.List[string]]::new()
    foreach ($identity in @($After['disabledInboxRules'])) { if ($identity -is [string] -and $identity.Length -gt 0) { $ours.Add($identity) } }
    $rules = Invoke-ExoCmdlet -Run $State.run -Action $Action -Name 'Get-InboxRule' -Parameters ([ordered]@{ Mailbox = $mailbox })
    $byIdentity = @{}
    foreach ($rule in $rules) { $byIdentity[[string](Get-ExoProp $rule 'Identity')] = $rule }
    $gone = [System.Collections.Generic.List[string]]::new()
    $enable = [System.Collections.Generic.List[string]]::new()
    foreach ($identity in $ours) {
        if (-not $byIdentity.ContainsKey($identity)) { $gone.Add($identity); continue }
        if (-not (ConvertTo-ExoBool (Get-ExoProp $byIdentity[$identity] 'Enabled'))) {
            $enable.Add($identity)
            Add-ExoPlannedChange -Action $Action -Name 'Enable-InboxRule' -Parameters ([ordered]@{ Identity = $identity; Mailbox = $mailbox; Confirm = [switch]$false })
        }
    }
    $Action.before = [ordered]@{ mailbox = $mailbox; disabled = $enable; gone = $gone }
    $Action._after = [ordered]@{ mailbox = $mailbox; enabledInboxRules = $enable }
    $goneText = if ($gone.Count -gt 0) { " Deleted since the run (left alone): $($gone -join ', ')." } else { '' }
    if ($enable.Count -eq 0) { Set-ExoActionStatus $Action $(if ($gone.Count -gt 0) { 'drift' } else { 'already' }) "The inbox rules the run disabled are enabled again.$goneText"; return }
    Set-ExoActionStatus $Action 'planned' "Would enable $(Format-ExoCount $enable.Count 'inbox rule') again: $($enable -join ', ').$goneText"
    $Action._doneDetail = "Enabled $(Format-ExoCount $enable.Count 'inbox rule') again: $($enable -join ', ').$goneText"
}

function Get-ExoUndoHold {
    param($State, $Action, $Before, $After)
    $mailbox = Get-ExoUndoMailbox $State $Action (Get-ExoUndoGuid $Before 'mailbox')
    $enabled = ConvertTo-ExoBool (Get-ExoProp $mailbox.raw 'LitigationHoldEnabled')
    $duration = [string](Get-ExoProp $mailbox.raw 'LitigationHoldDuration')
    $wasEnabled = $Before['litigationHoldEnabled'] -eq $true
    $wasDuration = [string]$Before['litigationHoldDuration']
    $Action.before = [ordered]@{ mailbox = $mailbox.guid; litigationHoldEnabled = $enabled; litigationHoldDuration = $duration }
    $sameDays = { param($A, $B) return (Get-ExoHoldDays ([string]$A)) -eq (Get-ExoHoldDays ([string]$B)) }
    $isBefore = $enabled -eq $wasEnabled -and (-not $enabled -or (& $sameDays $duration $wasDuration))
    $isAfter = $enabled -and (& $sameDays $duration $After['litigationHoldDuration'])
    Set-ExoUndoDecision $State $Action $isBefore $isAfter "the litigation hold of $($mailbox.label) (enabled: $wasEnabled)" "enabled: $enabled, $duration" {
        $parameters = [ordered]@{ Identity = $mailbox.guid; LitigationHoldEnabled = $wasEnabled }
        if ($wasEnabled) {
            $days = Get-ExoHoldDays $wasDuration
            $parameters.LitigationHoldDuration = if ($null -eq $days) { 'Unlimited' } else { $days }
        }
        $parameters.Confirm = [switch]$false
        Add-ExoPlannedChange -Action $Action -Name 'Set-Mailbox' -Parameters $parameters
    }
    $Action._after = [ordered]@{ mailbox = $mailbox.guid; litigationHoldEnabled = $wasEnabled; litigationHoldDuration = $wasDuration }
}
