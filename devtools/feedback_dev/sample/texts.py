"""What customers write: templates per feedback type, topic and priority trigger.

Each topic fixes the ground truth (type and priority, following preset A of the
domain notes); the wording varies. Placeholders are filled by ``compose``:
personal data ``{mobile} {email} {landline} {idno} {courier}``, hard negatives
``{order} {order18} {amount} {date} {tracking}`` and neutral ``{product} {feature}
{agent} {days} {n} {company}``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """One kind of problem with its ground-truth type and priority and its wordings."""

    key: str
    ftype: str
    priority: str
    weight: float
    zh_subjects: tuple[str, ...]
    zh_bodies: tuple[str, ...]
    en_subjects: tuple[str, ...]
    en_bodies: tuple[str, ...]
    enterprise_only: bool = False


T = Topic
TOPICS: tuple[Topic, ...] = (
    # 功能问题 function problems
    T("app_crash", "function_problem", "medium", 3,
      ("App打开闪退", "更新后偶尔闪退", "{product}闪退问题"),
      ("昨天更新到最新版本后，{product}偶尔会闪退，重新打开又正常了。手机是华为Mate 60，系统已经是最新的。",
       "在订单页面点“查看物流”的时候会闪退，订单号{order}，其他页面暂时正常。"),
      ("App crashes sometimes", "Crash after update"),
      ("Since the last update the {product} sometimes crashes when I open my orders. Restarting helps.",)),
    T("frequent_crash", "function_problem", "high", 3,
      ("频繁闪退，根本用不了", "{product}一天闪退十几次"),
      ("这周{product}频繁闪退，一天要闪退十几次，下单到一半就退出，订单{order}也没提交成功。",
       "从{date}开始App频繁闪退，卸载重装、清缓存都试过了，还是一样。"),
      ("App keeps crashing", "Frequent crashes since {date}"),
      ("The {product} crashes every few minutes since {date}. I reinstalled it twice, no change.",)),
    T("login_failed", "function_problem", "high", 3,
      ("无法登录", "账号登录不上", "一直提示验证码错误"),
      ("从{date}开始一直无法登录，提示“账号或密码错误”，密码确认没问题，短信验证码也收不到。",
       "换了新手机以后账号登录不上，人脸识别一直失败，账号里还有{amount}余额。"),
      ("Cannot log in", "Login broken"),
      ("I have not been able to log in since {date}. The verification code never arrives.",)),
    T("unusable", "function_problem", "urgent", 1,
      ("{product}完全无法使用", "升级后设备无法使用"),
      ("设备升级固件后完全无法使用，开机就卡在启动界面，家里老人每天都要用，请马上处理。",
       "{product}从{date}起完全无法使用，所有按钮都没反应，订单号{order}，还在保修期内。"),
      ("{product} completely unusable", "Device dead after update"),
      ("After the firmware update on {date} the {product} is completely unusable. It is still under warranty,"
       " order {order}.",)),
    T("payment_failed", "function_problem", "urgent", 1.5,
      ("支付失败但已扣款", "付款失败", "支付失败，钱被扣了"),
      ("{date}在App里支付订单{order}，提示支付失败，可是银行卡已经扣了{amount}，订单状态还是待支付。",
       "连续三次支付失败，每次都显示“系统繁忙”，但是微信账单里有一笔{amount}的扣款，订单号{order18}。"),
      ("Payment failed but I was charged", "Payment failure"),
      ("On {date} my payment for order {order} failed, yet my card was charged {amount}.",)),
    T("data_lost", "function_problem", "urgent", 1,
      ("数据丢失", "聊天记录和照片全没了", "云端备份丢失"),
      ("换手机登录后，云端备份的照片和记录全部丢失了，大概有三年的数据，请马上帮我恢复！",
       "{date}同步之后账户里的收藏和历史订单数据丢失，只剩下{order}这一单。"),
      ("Data lost after sync", "All my data is gone"),
      ("After syncing on {date} all my saved photos and notes are gone. Please restore them immediately.",)),
    T("page_error", "function_problem", "medium", 3,
      ("页面报错", "订单详情页打不开", "网页报错500"),
      ("打开订单详情页面报错“系统繁忙，错误码500”，订单号{order}，试了好几次都一样。",
       "官网的发票申请页面点提交以后报错，提示“参数错误”，浏览器换了两个也不行。"),
      ("Error on the order page", "Page shows error 500"),
      ("The order details page for {order} shows 'error 500' every time I open it.",)),
    T("outage", "function_problem", "high", 2,
      ("服务中断", "所有设备离线", "今天服务一直中断"),
      ("今天上午9点到现在服务中断，所有设备都离线，App显示“网络异常”，家里的网络是正常的。",
       "{date}晚上开始服务中断了好几个小时，门锁和摄像头都连不上，很不安全。"),
      ("Service outage", "Everything offline"),
      ("Your service has been down since this morning, all my devices show offline.",)),
    T("safety", "function_problem", "urgent", 0.5,
      ("产品有安全隐患", "充电发烫冒烟"),
      ("{product}充电的时候机身发烫，还闻到焦味，差点冒烟，存在严重安全隐患，家里有小孩，请立即处理。",),
      ("Safety hazard: device overheating",),
      ("The {product} became very hot while charging and smelled burnt. This is a safety hazard.",)),
    # 服务投诉 service complaints
    T("rude_agent", "service_complaint", "medium", 3,
      ("客服态度差", "投诉客服服务态度", "客服不耐烦还挂电话"),
      ("{date}打客服热线咨询退货，客服态度非常差，说了两句就挂电话，是客服{agent}。",
       "在线客服一直用模板回复，问了三遍都答非所问，最后直接不回了，服务太敷衍。"),
      ("Rude customer service", "Complaint about your agent"),
      ("I called your hotline on {date} and agent {agent} was rude and hung up on me.",)),
    T("delivery_delay", "service_complaint", "medium", 3,
      ("物流延迟", "快递一直不更新", "下单{days}天还没发货"),
      ("订单{order}下单已经{days}天了还没收到，物流信息一直停在中转站，快递单号{tracking}。",
       "快递单号{tracking}，显示派送中三天了，快递员电话{courier}也打不通。",
       "{date}买的{product}，说好48小时发货，现在{days}天了还没发货。"),
      ("Delivery delayed", "Where is my parcel?"),
      ("Order {order} was placed {days} days ago and tracking {tracking} has not moved since.",)),
    T("refund_slow", "service_complaint", "medium", 3,
      ("退款慢", "退款一直不到账", "退款处理太慢"),
      ("{date}申请的退款{amount}到现在还没到账，客服一直说在处理中，订单号{order18}。",
       "退货已经签收{days}天了，退款还没有退回，订单{order}，金额{amount}。"),
      ("Refund still not received", "Slow refund"),
      ("I returned order {order} {days} days ago and the refund of {amount} has still not arrived.",)),
    T("overcharge", "service_complaint", "medium", 2,
      ("多扣费", "账单多扣了钱", "重复扣费"),
      ("这个月账单多扣了{amount}，我根本没有开通这个增值服务，订单{order}。",
       "同一笔订单{order18}被重复扣费两次，每次{amount}，请退还多扣的费用。"),
      ("Charged twice", "Overcharged on my bill"),
      ("I was charged {amount} twice for order {order}. Please refund the duplicate charge.",)),
    T("enterprise_batch", "service_complaint", "urgent", 2,
      ("企业客户批量投诉：{n}个账号无法使用", "关于我司批量账号异常的投诉"),
      ("我司（{company}）共有{n}名员工的账号从{date}起无法使用，业务已经受到严重影响，"
       "多次联系客户经理没有结果，现代表公司正式投诉，请尽快安排专人处理。",),
      ("Formal complaint: {n} company accounts blocked",),
      ("On behalf of {company}: {n} of our staff accounts have been unusable since {date}."
       " This is a formal complaint; please assign someone today.",),
      enterprise_only=True),
    # 需求建议 feature requests / suggestions
    T("feature_wish", "feature_request", "low", 4,
      ("希望增加{feature}", "建议增加{feature}功能", "功能建议"),
      ("希望增加{feature}功能，现在每次都要手动操作，很不方便。",
       "用了两年了整体挺好的，建议增加{feature}，这样老年人用起来更方便。"),
      ("Feature request: {feature}", "Suggestion"),
      ("It would be great to have {feature}. Right now I have to do it by hand every time.",)),
    T("ui_text", "feature_request", "medium", 2,
      ("界面文案调整建议", "按钮文字容易误解"),
      ("结算页面“确认”和“取消”按钮的文字太容易混淆，建议调整一下文案。",
       "会员页面的说明文字太小了，也看不懂“权益包”是什么意思，建议改得直白一点。"),
      ("Confusing button labels",),
      ("On the checkout page the 'OK' and 'Cancel' labels are easy to mix up. Please reword them.",)),
    # 其他问题 other: billing questions, campaign rules
    T("billing_question", "other", "medium", 2,
      ("账单疑问", "这个月账单看不懂", "发票金额不对"),
      ("这个月账单里有一项“服务费”{amount}，不太清楚是什么费用，麻烦解释一下。",
       "{date}开的发票金额和订单{order}的实付金额对不上，想确认一下哪个是对的。"),
      ("Question about my bill",),
      ("My bill shows a service fee of {amount} and I do not understand what it is for.",)),
    T("campaign_rules", "other", "low", 2,
      ("活动规则咨询", "满减活动怎么算", "优惠券能不能叠加"),
      ("国庆活动的满减规则看不懂，{amount}的订单能不能叠加优惠券？",
       "请问{date}的会员日活动，积分翻倍是按下单时间还是付款时间算？"),
      ("Question about the promotion rules",),
      ("Can the holiday discount be combined with a coupon on an order of {amount}?",)),
    # 表扬 praise
    T("praise_agent", "praise", "low", 3,
      ("表扬客服", "表扬信", "感谢客服{agent}"),
      ("感谢客服{agent}耐心帮我解决了问题，服务非常专业，特此表扬！",
       "{date}上门的师傅非常细心，把问题一次处理好了，还帮忙清理了现场，给你们点赞。"),
      ("Thank you to your agent", "Great service"),
      ("Agent {agent} solved my problem quickly and patiently. Thank you!",)),
    T("thanks", "praise", "low", 2,
      ("感谢", "问题已解决，谢谢", "谢谢你们"),
      ("之前反馈的问题已经解决了，谢谢你们的快速处理，体验很好。",
       "{product}很好用，售后也很及时，谢谢！"),
      ("Thanks!", "Problem solved, thank you"),
      ("My issue has been fixed, thanks for the quick help.",)),
)

PRODUCTS = {
    "zh": ("手机App", "小程序", "智能音箱", "扫地机器人", "空气净化器", "智能门锁", "电动牙刷"),
    "en": ("mobile app", "smart speaker", "robot vacuum", "air purifier", "smart lock"),
}
FEATURES = {
    "zh": ("夜间模式", "账单导出", "大字版", "多账号切换", "订单批量开票", "语音输入"),
    "en": ("a dark mode", "CSV export of bills", "multi-account switching", "a larger font option"),
}

GREETINGS = {"zh": ("您好：", "你好，", "客服你好：", "", "尊敬的客服："), "en": ("Hello,", "Hi team,", "")}
SIGNOFFS = {"zh": ("谢谢！", "盼复。", "麻烦了，谢谢。", ""), "en": ("Thanks,", "Regards,", "Best,")}

ANGRY = {
    "zh": ("太差了！！！", "再不处理就投诉！", "什么破服务!!!", "已经第三次反馈了，到底有没有人管？？？",
           "你们就是这么对待老客户的吗！"),
    "en": ("This is unacceptable!!!", "Fix this now or I will file a complaint!", "Terrible service!!!"),
}
ANGRY_EMOJI = ("😡", "🤬")
ANXIOUS = {
    "zh": ("麻烦尽快处理，很着急，谢谢。", "急用，请尽快回复！", "明天就要用，拜托了。"),
    "en": ("Please help as soon as possible, I need this urgently.",),
}
# Public-opinion, media and regulator threats: urgent whatever the topic (doc 001).
ESCALATIONS = {
    "zh": ("再不解决我就投诉到12315。", "我已经联系了媒体记者，准备曝光这件事。",
           "这件事我已经发到微博上了，很多网友都在讨论。", "我会向消费者协会投诉。"),
    "en": ("If this is not solved I will report it to the consumer protection authority.",
           "I have contacted a journalist about this."),
}
VIP_NOTES = {
    "zh": ("我是你们的钻石会员，", "作为VIP客户，", "我是老客户了，年年续费，"),
    "en": ("As a VIP member, ", "I am a premium customer, "),
}
CONTACT_LINES = {
    "zh": ("请联系我：{mobile}", "我的电话{mobile}，邮箱{email}", "有问题请联系{email}谢谢",
           "手机{mobile}，微信同号。", "联系电话：{landline}（工作日白天）",
           "电话{mobile}或者{landline}都可以。"),
    "en": ("You can reach me at {mobile} or {email}.", "Phone: {mobile}", "Please reply to {email}, thanks."),
}
ID_LINES = {"zh": ("实名认证的身份证号是{idno}，可以核实。", "身份证{idno}，账号是实名的。"),
            "en": ("My ID number is {idno} if you need to verify.",)}
FOLLOWUPS = {
    "zh": ("我在{date}反馈的问题到现在还没有人联系我，请尽快处理。", "补充一下：问题还是存在，没有任何改善。",
           "已经过去好几天了，还是没有结果，请给个准确的处理时间。", "收到回复了，但是问题并没有解决。"),
    "en": ("I reported this on {date} and nobody has contacted me yet.",
           "Following up: the problem is still there."),
}
PRAISE_FOLLOWUPS = {
    "zh": ("再次感谢你们，问题解决以后一直用得很好。", "补充一句：麻烦把我的感谢转达给那位同事，谢谢！"),
    "en": ("Thanks again, everything still works fine.",),
}
