<#
  STUB: the Set-Mailbox / Get-Mailbox parts of the offboarding catalogue (issue 15), dot-sourced into
  ExchangeOnlineManagement.psm1.

    -ForwardingAddress <recipient>|$null   stored as the target's Guid; Get-Mailbox shows the target's Name.
    -GrantSendOnBehalfTo @{Add=..;Remove=..} | <list> | $null
                                           principals (mailboxes, mail users, security groups) by identity;
                                           Get-Mailbox shows their Names.
    -LitigationHoldDuration Unlimited|<days>
                                           Get-Mailbox shows "Unlimited" or "<days>.00:00:00".
    -LitigationHoldEnabled $true on a mailbox whose state says litigationHoldLicensed = false fails as
    Exchange does without an Exchange Online Plan 2 (or Archiving) licence.
#>

function Get-StubSetMailboxChanges {
    # The changes these parameters make, as (key, value) pairs; $null after an error was written.
    param($Cmdlet, $State, $Mailbox, [System.Collections.IDictionary]$Bound)
    $changes = [System.Collections.Generic.List[object]]::new()
    if ($Bound.ContainsKey('ForwardingAddress')) {
        $target = ''
        if (-not (Test-StubEmptyIdentity $Bound['ForwardingAddress'])) {
            $recipient = Resolve-StubSingle -Cmdlet $Cmdlet -State $State -Identity $Bound['ForwardingAddress'] -Kind 'recipient' -CmdletName 'SetMailbox'
            if ($null -eq $recipient) { return $null }
            $target = [string]$recipient['guid']
        }
        if ([string]$Mailbox['forwardingAddress'] -ne $target) { $changes.Add(@('forwardingAddress', $target)) }
    }
    if ($Bound.ContainsKey('LitigationHoldEnabled') -and [bool]$Bound['LitigationHoldEnabled'] -and $Mailbox['litigationHoldLicensed'] -eq $false) {
        Write-StubError $Cmdlet "The mailbox '$($Mailbox['name'])' can't be placed on Litigation Hold: it needs an Exchange Online Plan 2 or Exchange Online Archiving license." 'InvalidOperation' $Mailbox['name'] 'RecipientTaskException'
        return $null
    }
    if ($Bound.ContainsKey('LitigationHoldDuration')) {
        $raw = [string]$Bound['LitigationHoldDuration']
        $days = 0
        if ([string]::Equals($raw, 'Unlimited', [System.StringComparison]::OrdinalIgnoreCase)) { $value = 'Unlimited' }
        elseif ([int]::TryParse($raw, [ref]$days) -and $days -gt 0) { $value = "$days.00:00:00" }
        else {
            Write-StubError $Cmdlet "Cannot process argument transformation on parameter 'LitigationHoldDuration'. Cannot convert value `"$raw`" to type `"Microsoft.Exchange.Data.Unlimited``1[Microsoft.Exchange.Data.EnhancedTimeSpan]`"." 'InvalidArgument' $raw 'ParameterBindingException'
            return $null
        }
        if ([string]$Mailbox['litigationHoldDuration'] -ne $value) {
            $changes.Add(@('litigationHoldDuration', $value))
        }
    }
    if ($Bound.ContainsKey('GrantSendOnBehalfTo')) {
        $current = [System.Collections.Generic.List[object]]::new()
        foreach ($guid in (Get-StubList $Mailbox 'grantSendOnBehalfTo')) { $current.Add([string]$guid) }
        $next = [System.Collections.Generic.List[object]]::new($current)
        $value = $Bound['GrantSendOnBehalfTo']
        if ($value -is [System.Management.Automation.PSObject]) { $value = $value.PSObject.BaseObject }
        if ($value -is [System.Collections.IDictionary]) {
            foreach ($key in $value.Keys) {
                if (@('Add', 'Remove') -notcontains [string]$key) {
                    Write-StubError $Cmdlet "Cannot process argument transformation on parameter 'GrantSendOnBehalfTo'. The hash table key '$key' is not Add or Remove." 'InvalidArgument' $key 'ParameterBindingException'
                    return $null
                }
                foreach ($identity in @($value[$key])) {
                    $principal = Resolve-StubPrincipal -Cmdlet $Cmdlet -State $State -Identity $identity
                    if ($null -eq $principal) { return $null }
                    $guid = [string]$principal['guid']
                    if ([string]$key -eq 'Add') { if (-not $next.Contains($guid)) { $next.Add($guid) } }
                    else { $null = $next.Remove($guid) }
                }
            }
        } else {
            $next.Clear()
            foreach ($identity in @($value)) {
                if (Test-StubEmptyIdentity $identity) { continue }
                $principal = Resolve-StubPrincipal -Cmdlet $Cmdlet -State $State -Identity $identity
                if ($null -eq $principal) { return $null }
                if (-not $next.Contains([string]$principal['guid'])) { $next.Add([string]$principal['guid']) }
            }
        }
        if (($next -join ',') -ne ($current -join ',')) { $changes.Add(@('grantSendOnBehalfTo', $next)) }
    }
    return , $changes
}

function Add-StubMailboxProperties {
    # What Get-Mailbox shows of the catalogue's state.
    param([System.Collections.IDictionary]$Object, $Entry)
    $state = Read-StubState -MayLag
    $nameOf = {
        param($Guid)
        $found = Find-StubByGuid $state $Guid
        if ($null -eq $found) { return [string]$Guid }
        return [string]$found['name']
    }
    $forwarding = [string]$Entry['forwardingAddress']
    $Object.ForwardingAddress = if ($forwarding.Length -gt 0) { & $nameOf $forwarding } else { $null }
    $Object.ForwardingSmtpAddress = if ([string]$Entry['forwardingSmtpAddress']) { 'smtp:' + [string]$Entry['forwardingSmtpAddress'] } else { $null }
    $Object.DeliverToMailboxAndForward = [bool]$Entry['deliverToMailboxAndForward']
    $Object.GrantSendOnBehalfTo = [string[]]@(foreach ($guid in (Get-StubList $Entry 'grantSendOnBehalfTo')) { & $nameOf $guid })
    $Object.LitigationHoldEnabled = [bool]$Entry['litigationHoldEnabled']
    $Object.LitigationHoldDuration = if ($null -ne $Entry['litigationHoldDuration']) { [string]$Entry['litigationHoldDuration'] } else { 'Unlimited' }
    $archive = [string]$Entry['archiveStatus']
    $Object.ArchiveStatus = if ($archive.Length -gt 0) { $archive } else { 'None' }
    $Object.ArchiveGuid = if ($archive -eq 'Active') { [string]$Entry['exchangeGuid'] } else { '00000000-0000-0000-0000-000000000000' }
    $Object.InPlaceHolds = [string[]]@(Get-StubList $Entry 'inPlaceHolds')
    $Object.ComplianceTagHoldApplied = [bool]$Entry['complianceTagHoldApplied']
}
